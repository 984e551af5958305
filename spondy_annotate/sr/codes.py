"""The codes of a grading SR: standard codes where they exist, the rubric's own concepts private.

A rubric's items and grades have no standard code, so they are coded in the private coding
scheme :data:`SCHEME` (``99`` prefix: private by convention), which every SR declares in its
Coding Scheme Identification Sequence together with the rubric's name and version
(:func:`scheme_identification`): the grade ``marrow_edema = 2`` is only meaningful with the
rubric that defines it. Standard codes are used for what has one: the disc level as finding site
(SNOMED CT, e.g. ``84020006`` "L4/L5 disc"), the disc height (DCM ``121207`` "Height", in UCUM
mm), "no change" (SNOMED CT ``260388006``), "uncertain" (SNOMED CT ``64957009``), the time point
types (CID 6146) and the note as a comment (DCM ``121106``).

:class:`RubricCodes` maps a rubric's fields and values to codes and back; the builder
(:mod:`~spondy_annotate.sr.build`) and the reader (:mod:`~spondy_annotate.sr.read`) share it,
so what one writes the other understands.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING

from pydicom.dataset import Dataset
from pydicom.sr.codedict import codes
from pydicom.sr.coding import Code

from spondy_annotate.errors import SRError
from spondy_annotate.grading.rubric import Change, Confidence, Field, FieldKind, Timepoint

if TYPE_CHECKING:
    from spondy_annotate.grading.rubric import Rubric

#: Designator of the private coding scheme of the rubrics' concepts.
SCHEME = "99SPONDY"
#: How the Coding Scheme Identification names a rubric: this prefix, then the rubric's name.
SCHEME_NAME_PREFIX = "spondy_annotate rubric "
#: Who is responsible for the private scheme.
SCHEME_ORGANIZATION = "spondy_annotate"

#: The rubric's measurement items that have a standard concept name.
STANDARD_MEASUREMENTS: dict[str, Code] = {"disc_height": codes.DCM.Height}
#: Standard codes of change and confidence values (the others are private).
STANDARD_VALUES: dict[str, Code] = {
    Change.UNCHANGED.value: codes.SCT.NoChange,
    Confidence.UNCERTAIN.value: codes.SCT.Uncertain,
}
#: Time point type (CID 6146) and order of each timepoint.
TIMEPOINT_TYPES: dict[Timepoint, Code] = {
    Timepoint.BASELINE: codes.UMLS.Baseline,
    Timepoint.FOLLOWUP: codes.DCM.Posttreatment,
}
#: The procedure reported (CID 100).
PROCEDURE = codes.LN.MRIUnspecifiedBodyRegion
#: Concept of the reader's confidence (case-level).
CONFIDENCE = Code("confidence", SCHEME, "Reader confidence")
#: Concept of the reader's free-text note (case-level).
NOTE = codes.DCM.Comment


def _meaning(text: str) -> str:
    """A Code Meaning (LO: at most 64 characters)."""
    return text if len(text) <= 64 else text[:63] + "…"


def level_code(level: str) -> Code:
    """The finding site of a disc level: SNOMED CT (``"L4-L5"`` -> "L4/L5 disc"), else private."""
    keyword = level.replace("-", "").replace("/", "").upper() + "Disc"
    try:
        code: Code = getattr(codes.SCT, keyword)
    except AttributeError:
        return Code(f"level.{level}", SCHEME, _meaning(f"{level} disc"))
    return code


def scheme_identification(rubric: Rubric) -> Dataset:
    """The Coding Scheme Identification Sequence item declaring :data:`SCHEME` for ``rubric``."""
    item = Dataset()
    item.CodingSchemeDesignator = SCHEME
    item.CodingSchemeName = SCHEME_NAME_PREFIX + rubric.name
    item.CodingSchemeVersion = rubric.version
    item.CodingSchemeResponsibleOrganization = SCHEME_ORGANIZATION
    return item


def declared_rubric(ds: Dataset) -> tuple[str, str]:
    """The (name, version) of the rubric an SR declares for :data:`SCHEME`.

    Raises
    ------
    SRError
        If the SR declares no such scheme.
    """
    for item in ds.get("CodingSchemeIdentificationSequence", []):
        name = str(item.get("CodingSchemeName", ""))
        if item.get("CodingSchemeDesignator") == SCHEME and name.startswith(SCHEME_NAME_PREFIX):
            return name[len(SCHEME_NAME_PREFIX) :], str(item.get("CodingSchemeVersion", ""))
    raise SRError(f"no {SCHEME} rubric in the Coding Scheme Identification Sequence")


def code_key(code: Code | Dataset) -> tuple[str, str]:
    """``(scheme designator, code value)``: what identifies a code (its meaning does not)."""
    if isinstance(code, Code):
        return code.scheme_designator, code.value
    value = code.get("CodeValue") or code.get("LongCodeValue") or code.get("URNCodeValue")
    return str(code.CodingSchemeDesignator), str(value)


@dataclass(frozen=True)
class RubricCodes:
    """The codes of one rubric's fields and values, both ways.

    Concept names: an item's grades are named by the item (``marrow_edema``), its change
    judgement by ``<item>.change``, a measurement by the item's standard concept
    (:data:`STANDARD_MEASUREMENTS`) or the item; values: a grade is ``<item>.<grade>``, a change
    or confidence value its standard code (:data:`STANDARD_VALUES`) or its own name.
    """

    rubric: Rubric

    def concept(self, field: Field) -> Code:
        """The concept name of a grade, change, measurement or confidence field."""
        if field.kind is FieldKind.CONFIDENCE:
            return CONFIDENCE
        item = self.rubric.item(field.item)
        if field.kind is FieldKind.CHANGE:
            return Code(f"{item.id}.change", SCHEME, _meaning(f"{item.label}: change"))
        if field.kind is FieldKind.MEASUREMENT and item.id in STANDARD_MEASUREMENTS:
            return STANDARD_MEASUREMENTS[item.id]
        return Code(item.id, SCHEME, _meaning(item.label))

    def value(self, field: Field, value: int | str) -> Code:
        """The code of a grade, change or confidence answer."""
        choice = field.choice(value)
        if field.kind is FieldKind.GRADE:
            return Code(f"{field.item}.{choice.value}", SCHEME, _meaning(choice.label))
        standard = STANDARD_VALUES.get(str(choice.value))
        return standard or Code(str(choice.value), SCHEME, _meaning(choice.label))

    @cached_property
    def _coded_fields(self) -> dict[tuple[tuple[str, str], Timepoint | None], Field]:
        """(concept key, timepoint) -> field, for the coded (CODE) fields."""
        kinds = (FieldKind.GRADE, FieldKind.CHANGE, FieldKind.CONFIDENCE)
        return {
            (code_key(self.concept(f)), f.timepoint): f
            for f in self.rubric.fields
            if f.kind in kinds
        }

    @cached_property
    def _measurement_fields(self) -> dict[tuple[tuple[str, str], Timepoint | None], Field]:
        return {
            (code_key(self.concept(f)), f.timepoint): f
            for f in self.rubric.fields
            if f.kind is FieldKind.MEASUREMENT
        }

    @cached_property
    def _levels(self) -> dict[tuple[str, str], str]:
        return {code_key(level_code(str(c.value))): str(c.value) for c in self.rubric.levels}

    def coded_field(self, concept: Dataset, timepoint: Timepoint) -> Field:
        """The field of a CODE item named ``concept`` in the group of ``timepoint``.

        Change and confidence fields belong to no timepoint; grades to theirs.
        """
        key = code_key(concept)
        found = self._coded_fields.get((key, timepoint)) or self._coded_fields.get((key, None))
        if found is None:
            raise SRError(f"{self._name}: unknown concept {key[0]} {key[1]!r}")
        return found

    def measurement_field(self, concept: Dataset, timepoint: Timepoint) -> Field:
        """The measurement field of a NUM item named ``concept`` in the group of ``timepoint``."""
        key = code_key(concept)
        found = self._measurement_fields.get((key, timepoint))
        if found is None:
            raise SRError(f"{self._name}: unknown measurement {key[0]} {key[1]!r}")
        return found

    def answer(self, field: Field, code: Dataset) -> int | str:
        """The answer to ``field`` that ``code`` stands for."""
        key = code_key(code)
        for choice in field.choices:
            if code_key(self.value(field, choice.value)) == key:
                return choice.value
        raise SRError(f"{self._name}: {field.key}: unknown value {key[0]} {key[1]!r}")

    def level(self, code: Dataset) -> str:
        """The rubric level a finding site code stands for."""
        key = code_key(code)
        if key not in self._levels:
            raise SRError(f"{self._name}: unknown level {key[0]} {key[1]!r}")
        return self._levels[key]

    @property
    def _name(self) -> str:
        return f"rubric {self.rubric.name} {self.rubric.version}"
