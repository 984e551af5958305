"""Grading rubrics: what a reader fills in for one case.

A rubric names the affected spinal level, a list of items (each graded at baseline and at
follow-up, optionally measured in mm, and judged as improved/unchanged/aggravated), a confidence
flag and a free-text note. :attr:`Rubric.fields` flattens this into the ordered list of fields the
viewer walks with the keyboard; :meth:`Rubric.validate_value` checks one answer and
:meth:`Rubric.is_complete` tells whether a case is done.

This module is the model only; rubrics are read from TOML (the built-ins, or a file) by
:mod:`spondy_annotate.grading.rubric_toml`.

Examples
--------
>>> from spondy_annotate.grading.rubric_toml import default_rubric
>>> rubric = default_rubric()
>>> rubric.validate_value("marrow_edema.baseline", 2)
2
>>> rubric.validate_value("disc_height.followup_mm", 6.5)
Measurement(mm=6.5, start=None, end=None)
"""

from __future__ import annotations

import dataclasses
import hashlib
import math
import numbers
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import Enum
from functools import cached_property
from typing import Any

#: Pseudo item id under which case-level fields (level, confidence, note) are stored.
CASE_ITEM = "case"


class ItemType(str, Enum):
    """How an item is assessed."""

    GRADE = "grade"
    """An ordinal grade at baseline and at follow-up, then a change judgement."""
    MEASUREMENT = "measurement"
    """A length measured in the viewer (mm) plus an ordinal grade at each timepoint, then a
    change judgement."""


class FieldKind(str, Enum):
    """What kind of value a field holds (decides the widget and the validation)."""

    LEVEL = "level"
    """The affected disc level, one of :attr:`Rubric.levels` (e.g. ``"L4-L5"``)."""
    GRADE = "grade"
    """An integer grade of the item's scale."""
    MEASUREMENT = "measurement"
    """A :class:`Measurement` in mm, with the line endpoints in patient (world) mm."""
    CHANGE = "change"
    """A :class:`Change` value."""
    CONFIDENCE = "confidence"
    """A :class:`Confidence` value."""
    NOTE = "note"
    """Free text."""


class Timepoint(str, Enum):
    """The study a field refers to."""

    BASELINE = "baseline"
    """The MRI at diagnosis, before or at the start of treatment."""
    FOLLOWUP = "followup"
    """The follow-up MRI under or after treatment."""


class Change(str, Enum):
    """The reader's judgement of an item between baseline and follow-up (analysed variable)."""

    IMPROVED = "improved"
    """Less extensive or less intense at follow-up: regression of the infection signs."""
    UNCHANGED = "unchanged"
    """No relevant difference between baseline and follow-up."""
    AGGRAVATED = "aggravated"
    """More extensive or more intense at follow-up: progression despite treatment."""

    @property
    def code(self) -> int:
        """The ordinal code analysed against the lab classes: improved 0, unchanged 1, aggravated 2."""
        return list(Change).index(self)


class Confidence(str, Enum):
    """The reader's confidence in the grading of a case."""

    CONFIDENT = "confident"
    """Image quality and coverage allowed a confident grading."""
    UNCERTAIN = "uncertain"
    """Grading uncertain (artefacts, incomplete coverage, post-operative changes, ...)."""


class GradingStatus(str, Enum):
    """Grading progress of one case by one reader."""

    NOT_STARTED = "not started"
    """No answer given yet."""
    PARTLY = "partly graded"
    """Some but not all required fields answered."""
    DONE = "done"
    """Every required field answered."""


@dataclass(frozen=True)
class Choice:
    """One allowed value of a field.

    Parameters
    ----------
    value
        The stored value: an ``int`` grade, or a string (level, change, confidence).
    label
        Short text shown on the button.
    description
        What the value means (tooltip, documentation).
    key
        Keyboard shortcut selecting this value while the field is focused, or ``None``.
    """

    value: int | str
    label: str
    description: str = ""
    key: str | None = None


@dataclass(frozen=True)
class Item:
    """One assessed finding, e.g. bone marrow oedema.

    Parameters
    ----------
    id
        Identifier used in field keys, the database and the export (``marrow_edema``).
    label, description
        Shown in the viewer.
    type
        :class:`ItemType`.
    grades
        The grade scale, ordered by value.
    key
        Keyboard shortcut jumping to this item, or ``None``.
    unit
        Unit of the measurement (``"mm"``) for :attr:`ItemType.MEASUREMENT` items, else ``None``.
    measurement_required
        Whether the measurements must be given for the case to be complete.
    change
        Whether the item has a change judgement.
    """

    id: str
    label: str
    description: str
    type: ItemType
    grades: tuple[Choice, ...]
    key: str | None = None
    unit: str | None = None
    measurement_required: bool = True
    change: bool = True


@dataclass(frozen=True)
class Field:
    """One value to fill in for a case.

    Parameters
    ----------
    key
        ``"level"``, ``"confidence"``, ``"note"`` or ``"<item>.<name>"`` such as
        ``"marrow_edema.baseline"`` or ``"disc_height.followup_mm"``.
    item
        Item id, or :data:`CASE_ITEM` for the case-level fields.
    name
        Field name within the item (``baseline``, ``followup``, ``baseline_mm``, ``followup_mm``,
        ``change``) or the case-level field name.
    kind
        :class:`FieldKind`.
    label
        Text shown in the viewer.
    choices
        Allowed values (empty for measurements and notes).
    required
        Whether the case is complete only once this field is answered.
    timepoint
        :class:`Timepoint` the field refers to, or ``None``.
    unit
        Unit of a measurement field.
    """

    key: str
    item: str
    name: str
    kind: FieldKind
    label: str
    choices: tuple[Choice, ...] = ()
    required: bool = True
    timepoint: Timepoint | None = None
    unit: str | None = None

    def choice(self, value: object) -> Choice:
        """Return the choice with ``value``; raise ``ValueError`` if there is none."""
        for c in self.choices:
            if c.value == value and type(c.value) is type(value):
                return c
        allowed = ", ".join(repr(c.value) for c in self.choices)
        raise ValueError(f"{self.key}: {value!r} is not allowed (expected one of {allowed})")


@dataclass(frozen=True)
class Measurement:
    """A length measured in the viewer.

    Parameters
    ----------
    mm
        The length in millimetres.
    start, end
        The line endpoints in patient/world coordinates (mm), or ``None`` if typed in.
    """

    mm: float
    start: tuple[float, float, float] | None = None
    end: tuple[float, float, float] | None = None

    @classmethod
    def from_points(cls, start: Sequence[float], end: Sequence[float]) -> Measurement:
        """Return the measurement of the line from ``start`` to ``end`` (world mm)."""
        p = _point(start, "start")
        q = _point(end, "end")
        return cls(mm=math.dist(p, q), start=p, end=q)

    def to_json(self) -> dict[str, Any]:
        """Return the JSON-able form stored in the database."""
        return {
            "mm": self.mm,
            "start": list(self.start) if self.start is not None else None,
            "end": list(self.end) if self.end is not None else None,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Measurement:
        """Inverse of :meth:`to_json`."""
        start, end = data.get("start"), data.get("end")
        return cls(
            mm=float(data["mm"]),
            start=tuple(start) if start is not None else None,
            end=tuple(end) if end is not None else None,
        )


#: A value of an answer as the rubric accepts it (``None`` clears a field).
AnswerValue = int | str | Measurement | None


@dataclass(frozen=True)
class Rubric:
    """A grading rubric, read from TOML by :func:`~spondy_annotate.grading.rubric_toml.load_rubric`.

    Parameters
    ----------
    name, version
        Identify the rubric in the database and the export.
    title, description, references
        Documentation shown to the reader.
    items
        The assessed items, in reading order.
    levels
        Choices of the affected level.
    change_choices, confidence_choices
        Labels of :class:`Change` and :class:`Confidence` values.
    level_required, confidence_required
        Whether these case-level fields must be answered.
    keys
        Navigation shortcuts of the case-level fields (``level``, ``confidence``, ``note``);
        see :attr:`shortcuts` for all of them.
    level_label
        Label of the level field.
    source
        File the rubric was read from (or ``"<string>"``).
    text
        The TOML text itself (stored in the database with every session).
    """

    name: str
    version: str
    title: str
    description: str
    items: tuple[Item, ...]
    levels: tuple[Choice, ...]
    change_choices: tuple[Choice, ...]
    confidence_choices: tuple[Choice, ...]
    level_required: bool = True
    confidence_required: bool = False
    references: tuple[str, ...] = ()
    keys: Mapping[str, str] = dataclasses.field(default_factory=dict, compare=False)
    level_label: str = "Affected level"
    source: str = dataclasses.field(default="<string>", compare=False)
    text: str = dataclasses.field(default="", repr=False, compare=False)

    @property
    def sha256(self) -> str:
        """SHA-256 of the TOML text, identifying the exact rubric used."""
        return hashlib.sha256(self.text.encode("utf-8")).hexdigest()

    @cached_property
    def fields(self) -> tuple[Field, ...]:
        """The fields to fill for a case, in keyboard order."""
        out = [
            Field(
                "level",
                CASE_ITEM,
                "level",
                FieldKind.LEVEL,
                self.level_label,
                self.levels,
                self.level_required,
            )
        ]
        for item in self.items:
            for tp in Timepoint:
                if item.type is ItemType.MEASUREMENT:
                    name = f"{tp.value}_mm"
                    out.append(
                        Field(
                            f"{item.id}.{name}",
                            item.id,
                            name,
                            FieldKind.MEASUREMENT,
                            f"{item.label}: {tp.value} ({item.unit})",
                            required=item.measurement_required,
                            timepoint=tp,
                            unit=item.unit,
                        )
                    )
                out.append(
                    Field(
                        f"{item.id}.{tp.value}",
                        item.id,
                        tp.value,
                        FieldKind.GRADE,
                        f"{item.label}: {tp.value}",
                        item.grades,
                        timepoint=tp,
                    )
                )
            if item.change:
                out.append(
                    Field(
                        f"{item.id}.change",
                        item.id,
                        "change",
                        FieldKind.CHANGE,
                        f"{item.label}: change",
                        self.change_choices,
                    )
                )
        out.append(
            Field(
                "confidence",
                CASE_ITEM,
                "confidence",
                FieldKind.CONFIDENCE,
                "Confidence",
                self.confidence_choices,
                self.confidence_required,
            )
        )
        out.append(Field("note", CASE_ITEM, "note", FieldKind.NOTE, "Note", required=False))
        return tuple(out)

    @property
    def shortcuts(self) -> dict[str, str]:
        """Navigation keys: ``{key: field key}``, an item's key jumping to its first field."""
        out = {key: name for name, key in self.keys.items()}
        for item in self.items:
            if item.key is not None:
                out[item.key] = next(f.key for f in self.fields if f.item == item.id)
        return out

    def field(self, key: str) -> Field:
        """Return the field with ``key``; raise ``KeyError`` naming the rubric if unknown."""
        for f in self.fields:
            if f.key == key:
                return f
        raise KeyError(f"rubric {self.name} {self.version} has no field {key!r}")

    def field_for(self, item: str, name: str) -> Field:
        """Return the field stored as (``item``, ``name``) in the database."""
        return self.field(name if item == CASE_ITEM else f"{item}.{name}")

    def item(self, item_id: str) -> Item:
        """Return the item with ``item_id``; raise ``KeyError`` if unknown."""
        for it in self.items:
            if it.id == item_id:
                return it
        raise KeyError(f"rubric {self.name} {self.version} has no item {item_id!r}")

    def validate_value(self, key: str, value: object) -> AnswerValue:
        """Check an answer to field ``key`` and return it normalised.

        Parameters
        ----------
        key
            A field key (see :attr:`fields`).
        value
            ``None`` (clears the field), an ``int`` grade, a level/change/confidence string
            or enum member, a :class:`Measurement` (or a plain number of mm), or a note.

        Returns
        -------
        int, str, Measurement or None

        Raises
        ------
        KeyError
            If the field is unknown.
        ValueError
            If the value is not allowed for the field.
        """
        f = self.field(key)
        if value is None:
            return None
        if f.kind is FieldKind.GRADE:
            if isinstance(value, bool) or not isinstance(value, numbers.Integral):
                raise ValueError(f"{key}: grade must be an int, got {value!r}")
            return int(f.choice(int(value)).value)
        if f.kind in (FieldKind.LEVEL, FieldKind.CHANGE, FieldKind.CONFIDENCE):
            if isinstance(value, Enum):
                value = value.value
            if not isinstance(value, str):
                raise ValueError(f"{key}: expected a string, got {value!r}")
            return str(f.choice(value).value)
        if f.kind is FieldKind.NOTE:
            if not isinstance(value, str):
                raise ValueError(f"{key}: a note must be a string, got {value!r}")
            return value.strip() or None
        return _validate_measurement(key, value)

    def missing_fields(self, values: Mapping[str, object]) -> tuple[Field, ...]:
        """Return the required fields that have no (non-``None``) value in ``values``."""
        return tuple(f for f in self.fields if f.required and values.get(f.key) is None)

    def is_complete(self, values: Mapping[str, object]) -> bool:
        """Whether every required field has a value in ``values`` (keyed by field key)."""
        return not self.missing_fields(values)

    def status(self, values: Mapping[str, object]) -> GradingStatus:
        """Return the :class:`GradingStatus` of a case with the answers ``values``."""
        if not any(v is not None for v in values.values()):
            return GradingStatus.NOT_STARTED
        return GradingStatus.DONE if self.is_complete(values) else GradingStatus.PARTLY


def _point(p: object, what: str) -> tuple[float, float, float]:
    if not isinstance(p, Sequence) or isinstance(p, str) or len(p) != 3:
        raise ValueError(f"{what}: expected 3 coordinates in world mm, got {p!r}")
    x, y, z = (float(v) for v in p)
    if not all(math.isfinite(v) for v in (x, y, z)):
        raise ValueError(f"{what}: coordinates must be finite, got {p!r}")
    return x, y, z


def _validate_measurement(key: str, value: object) -> Measurement:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        value = Measurement(float(value))
    if isinstance(value, Mapping):
        value = Measurement.from_json(value)
    if not isinstance(value, Measurement):
        raise ValueError(f"{key}: expected a Measurement or a number of mm, got {value!r}")
    mm = float(value.mm)
    if not math.isfinite(mm) or mm < 0:
        raise ValueError(f"{key}: length must be a finite number >= 0 mm, got {value.mm!r}")
    if (value.start is None) != (value.end is None):
        raise ValueError(f"{key}: give both line endpoints or none")
    if value.start is None or value.end is None:
        return Measurement(mm)
    start = _point(value.start, f"{key} start")
    end = _point(value.end, f"{key} end")
    dist = math.dist(start, end)
    if abs(dist - mm) > max(0.1, 0.01 * dist):
        raise ValueError(
            f"{key}: {mm:g} mm does not match the line length {dist:.2f} mm "
            "(endpoints must be in world mm)"
        )
    return Measurement(mm, start, end)
