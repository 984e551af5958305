"""Grading rubrics: what a reader fills in for one case, loaded from TOML data files.

A rubric names the affected spinal level, a list of items (each graded at baseline and at
follow-up, optionally measured in mm, and judged as improved/unchanged/aggravated), a confidence
flag and a free-text note. :attr:`Rubric.fields` flattens this into the ordered list of fields the
viewer walks with the keyboard; :meth:`Rubric.validate_value` checks one answer and
:meth:`Rubric.is_complete` tells whether a case is done.

The built-in rubrics live in ``spondy_annotate/grading/rubrics/*.toml``; ``ahn2020`` is the default.

Examples
--------
>>> rubric = default_rubric()
>>> [f.key for f in rubric.fields][:4]
['level', 'marrow_edema.baseline', 'marrow_edema.followup', 'marrow_edema.change']
>>> rubric.validate_value("marrow_edema.baseline", 2)
2
"""

from __future__ import annotations

import dataclasses
import hashlib
import logging
import math
import numbers
import os
import re
import sys
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from enum import Enum
from functools import cached_property
from importlib import resources
from pathlib import Path
from typing import Any, NoReturn

from spondy_annotate.errors import RubricError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

logger = logging.getLogger(__name__)

#: Name of the rubric used when none is given.
DEFAULT_RUBRIC = "ahn2020"
#: Pseudo item id under which case-level fields (level, confidence, note) are stored.
CASE_ITEM = "case"

_ID_RE = re.compile(r"^[a-z][a-z0-9_]*$")


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
            start=tuple(start) if start is not None else None,  # type: ignore[arg-type]
            end=tuple(end) if end is not None else None,  # type: ignore[arg-type]
        )


#: A value of an answer as the rubric accepts it (``None`` clears a field).
AnswerValue = int | str | Measurement | None


@dataclass(frozen=True)
class Rubric:
    """A grading rubric loaded from a TOML file (see :func:`load_rubric`).

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
                "level", CASE_ITEM, "level", FieldKind.LEVEL, self.level_label,
                self.levels, self.level_required,
            )
        ]
        for item in self.items:
            for tp in Timepoint:
                if item.type is ItemType.MEASUREMENT:
                    name = f"{tp.value}_mm"
                    out.append(
                        Field(
                            f"{item.id}.{name}", item.id, name, FieldKind.MEASUREMENT,
                            f"{item.label}: {tp.value} ({item.unit})",
                            required=item.measurement_required, timepoint=tp, unit=item.unit,
                        )
                    )
                out.append(
                    Field(
                        f"{item.id}.{tp.value}", item.id, tp.value, FieldKind.GRADE,
                        f"{item.label}: {tp.value}", item.grades, timepoint=tp,
                    )
                )
            if item.change:
                out.append(
                    Field(
                        f"{item.id}.change", item.id, "change", FieldKind.CHANGE,
                        f"{item.label}: change", self.change_choices,
                    )
                )
        out.append(
            Field(
                "confidence", CASE_ITEM, "confidence", FieldKind.CONFIDENCE, "Confidence",
                self.confidence_choices, self.confidence_required,
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
    out = tuple(float(x) for x in p)
    if not all(math.isfinite(x) for x in out):
        raise ValueError(f"{what}: coordinates must be finite, got {p!r}")
    return out  # type: ignore[return-value]


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


# --------------------------------------------------------------------------- loading


def builtin_rubrics() -> tuple[str, ...]:
    """Return the names of the rubrics shipped with spondy_annotate, sorted."""
    folder = resources.files("spondy_annotate.grading") / "rubrics"
    return tuple(
        sorted(p.name[: -len(".toml")] for p in folder.iterdir() if p.name.endswith(".toml"))
    )


def default_rubric() -> Rubric:
    """Return the default rubric (:data:`DEFAULT_RUBRIC`, after Ahn et al. 2020)."""
    return load_rubric(DEFAULT_RUBRIC)


def load_rubric(path_or_name: str | os.PathLike[str]) -> Rubric:
    """Load a rubric from a TOML file or by built-in name.

    Parameters
    ----------
    path_or_name
        A path to a ``.toml`` file, or the name of a built-in rubric (:func:`builtin_rubrics`).

    Returns
    -------
    Rubric

    Raises
    ------
    RubricError
        If the file is missing, not valid TOML or not a valid rubric; the one-line message names
        the file and the offending key or line.

    Examples
    --------
    >>> load_rubric("kowalski2007").name
    'kowalski2007'
    """
    text_name = os.fspath(path_or_name)
    is_name = _ID_RE.match(text_name) is not None and not Path(text_name).exists()
    if is_name:
        if text_name not in builtin_rubrics():
            raise RubricError(
                f"unknown rubric {text_name!r}: give a .toml file or one of "
                f"{', '.join(builtin_rubrics())}"
            )
        ref = resources.files("spondy_annotate.grading") / "rubrics" / f"{text_name}.toml"
        return parse_rubric(ref.read_text(encoding="utf-8"), source=f"{text_name}.toml")
    path = Path(text_name)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise RubricError(f"{path}: no such rubric file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise RubricError(f"{path}: cannot read rubric ({exc})") from None
    return parse_rubric(text, source=str(path))


def parse_rubric(text: str, *, source: str = "<string>") -> Rubric:
    """Parse and validate rubric TOML ``text``; ``source`` names it in error messages."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise RubricError(f"{source}: invalid TOML: {exc}") from None
    return _Parser(text, source).rubric(data)


_TOP_KEYS = {
    "name", "version", "title", "description", "references",
    "level", "change", "confidence", "note", "items",
}
_ITEM_KEYS = {
    "id", "label", "description", "type", "key", "unit", "measurement_required", "change",
    "grades",
}
_CHOICE_KEYS = {"value", "label", "description", "key"}


class _Parser:
    """Validates the parsed TOML of one rubric; every error is one line naming file and key."""

    def __init__(self, text: str, source: str) -> None:
        self.text = text
        self.source = source

    def fail(
        self, where: str, msg: str, *, line_of: tuple[str, str, int] | None = None
    ) -> NoReturn:
        line = self._line(*line_of) if line_of else None
        at = f"line {line}: " if line else ""
        raise RubricError(f"{self.source}: {at}{where}: {msg}")

    def _line(self, key: str, value: str, occurrence: int) -> int | None:
        """Best-effort line number of the ``occurrence``-th ``key = "value"`` in the text."""
        pattern = re.compile(rf"^\s*{re.escape(key)}\s*=\s*[\"']{re.escape(value)}[\"']", re.M)
        matches = list(pattern.finditer(self.text))
        if len(matches) < occurrence:
            return None
        return self.text.count("\n", 0, matches[occurrence - 1].start()) + 1

    def check_keys(self, table: Mapping[str, Any], allowed: set[str], where: str) -> None:
        for k in table:
            if k not in allowed:
                self.fail(where or "top level", f"unknown key {k!r} (allowed: "
                          f"{', '.join(sorted(allowed))})")

    def string(
        self, table: Mapping[str, Any], key: str, where: str, *, required: bool = True,
        default: str = "",
    ) -> str:
        if key not in table:
            if required:
                self.fail(f"{where}{key}" if where else key, "missing required key")
            return default
        value = table[key]
        if not isinstance(value, str) or (required and not value.strip()):
            self.fail(f"{where}{key}", f"expected a non-empty string, got {value!r}")
        return value.strip()

    def boolean(self, table: Mapping[str, Any], key: str, where: str, default: bool) -> bool:
        value = table.get(key, default)
        if not isinstance(value, bool):
            self.fail(f"{where}{key}", f"expected true or false, got {value!r}")
        return value

    def table(self, data: Mapping[str, Any], key: str) -> Mapping[str, Any]:
        value = data.get(key, {})
        if not isinstance(value, dict):
            self.fail(key, f"expected a table, got {type(value).__name__}")
        return value

    def key(self, table: Mapping[str, Any], where: str) -> str | None:
        value = table.get("key")
        if value is None:
            return None
        if not isinstance(value, str) or not value or value != value.strip():
            self.fail(f"{where}key", f"expected a non-empty key name, got {value!r}")
        return value

    def choices(
        self, raw: object, where: str, *, kind: type, allowed: Iterable[str] | None = None
    ) -> tuple[Choice, ...]:
        if not isinstance(raw, list) or not raw:
            self.fail(where, "needs at least two choices, found none")
        if len(raw) < 2:  # type: ignore[arg-type]
            self.fail(where, "needs at least two choices, found one")
        out: list[Choice] = []
        seen_values: dict[object, int] = {}
        seen_keys: dict[str, int] = {}
        for i, entry in enumerate(raw):  # type: ignore[arg-type]
            at = f"{where}[{i}]"
            if isinstance(entry, str) and kind is str:
                entry = {"value": entry}
            if not isinstance(entry, dict):
                self.fail(at, f"expected a table with value/label/description, got {entry!r}")
            self.check_keys(entry, _CHOICE_KEYS, at)
            if "value" not in entry:
                self.fail(f"{at}.value", "missing required key")
            value = entry["value"]
            if kind is int and (isinstance(value, bool) or not isinstance(value, int)):
                self.fail(f"{at}.value", f"a grade must be an integer, got {value!r}")
            if kind is str and (not isinstance(value, str) or not value.strip()):
                self.fail(f"{at}.value", f"expected a non-empty string, got {value!r}")
            if value in seen_values:
                self.fail(f"{at}.value", f"duplicate value {value!r} (first at "
                          f"{where}[{seen_values[value]}])")
            seen_values[value] = i
            key = self.key(entry, f"{at}.")
            if key is not None:
                if key in seen_keys:
                    self.fail(f"{at}.key", f"duplicate key binding {key!r} (already bound by "
                              f"{where}[{seen_keys[key]}])")
                seen_keys[key] = i
            label = self.string(entry, "label", f"{at}.", required=False, default=str(value))
            out.append(
                Choice(value, label or str(value), self.string(entry, "description", f"{at}.",
                                                               required=False), key)
            )
        if allowed is not None:
            expected = set(allowed)
            if set(seen_values) != expected:
                self.fail(where, f"values must be exactly {', '.join(sorted(expected))}; got "
                          f"{', '.join(sorted(map(str, seen_values)))}")
        if kind is int:
            out.sort(key=lambda c: int(c.value))
        return tuple(out)

    def item(self, raw: object, i: int) -> Item:
        at = f"items[{i}]"
        if not isinstance(raw, dict):
            self.fail(at, "expected a table ([[items]])")
        self.check_keys(raw, _ITEM_KEYS, at)
        item_id = self.string(raw, "id", f"{at}.")
        if not _ID_RE.match(item_id) or item_id == CASE_ITEM:
            self.fail(f"{at}.id", f"{item_id!r} is not a valid item id (lower-case letters, "
                      f"digits and _, starting with a letter; not {CASE_ITEM!r})")
        type_name = raw.get("type", ItemType.GRADE.value)
        try:
            item_type = ItemType(type_name)
        except ValueError:
            self.fail(f"{at}.type", f"unknown item type {type_name!r} (expected one of "
                      f"{', '.join(t.value for t in ItemType)})")
        unit = None
        if item_type is ItemType.MEASUREMENT:
            unit = self.string(raw, "unit", f"{at}.", required=False, default="mm") or "mm"
            if unit != "mm":
                self.fail(f"{at}.unit", f"only 'mm' is supported, got {unit!r}")
        elif "unit" in raw or "measurement_required" in raw:
            self.fail(at, "'unit'/'measurement_required' are only allowed with "
                      "type = \"measurement\"")
        return Item(
            id=item_id,
            label=self.string(raw, "label", f"{at}."),
            description=self.string(raw, "description", f"{at}.", required=False),
            type=item_type,
            grades=self.choices(raw.get("grades"), f"{at}.grades", kind=int),
            key=self.key(raw, f"{at}."),
            unit=unit,
            measurement_required=self.boolean(raw, "measurement_required", f"{at}.", True),
            change=self.boolean(raw, "change", f"{at}.", True),
        )

    def rubric(self, data: Mapping[str, Any]) -> Rubric:
        self.check_keys(data, _TOP_KEYS, "")
        name = self.string(data, "name", "")
        if not _ID_RE.match(name):
            self.fail("name", f"{name!r} must be lower-case letters, digits and _")
        version = data.get("version")
        if version is None:
            self.fail("version", "missing required key")
        if not isinstance(version, str) or not version.strip():
            self.fail("version", f'expected a string such as "1.0", got {version!r}')
        references = data.get("references", [])
        if not isinstance(references, list) or not all(isinstance(r, str) for r in references):
            self.fail("references", "expected a list of strings")

        level = self.table(data, "level")
        self.check_keys(level, {"label", "key", "required", "choices"}, "level")
        if "choices" not in level:
            self.fail("level.choices", "missing required key")
        levels = self.choices(level["choices"], "level.choices", kind=str)
        change = self.table(data, "change")
        self.check_keys(change, {"choices"}, "change")
        change_choices = self.choices(
            change.get("choices"), "change.choices", kind=str, allowed=[c.value for c in Change]
        )
        conf = self.table(data, "confidence")
        self.check_keys(conf, {"key", "required", "choices"}, "confidence")
        conf_choices = self.choices(
            conf.get("choices"), "confidence.choices", kind=str,
            allowed=[c.value for c in Confidence],
        )
        note = self.table(data, "note")
        self.check_keys(note, {"key"}, "note")

        raw_items = data.get("items")
        if not isinstance(raw_items, list) or not raw_items:
            self.fail("items", "needs at least one [[items]] table")
        items: list[Item] = []
        first: dict[str, int] = {}
        for i, raw in enumerate(raw_items):  # type: ignore[arg-type]
            item = self.item(raw, i)
            if item.id in first:
                self.fail(f"items[{i}].id", f"duplicate item id {item.id!r} (first at "
                          f"items[{first[item.id]}])", line_of=("id", item.id, 2))
            first[item.id] = i
            items.append(item)

        # Navigation keys (jump to a field) must be unique and must not shadow a value key.
        nav: dict[str, str] = {}
        case_keys: dict[str, str] = {}
        sources = [
            ("level.key", "level", self.key(level, "level.")),
            ("confidence.key", "confidence", self.key(conf, "confidence.")),
            ("note.key", "note", self.key(note, "note.")),
        ]
        sources += [(f"items[{i}].key", f"items[{i}] ({it.id})", it.key)
                    for i, it in enumerate(items)]
        for where, what, key in sources:
            if key is None:
                continue
            if key in nav:
                self.fail(where, f"duplicate key binding {key!r} (already bound by {nav[key]})",
                          line_of=("key", key, 2))
            nav[key] = what
            if "[" not in what:
                case_keys[what] = key
        scales = [("level.choices", levels), ("change.choices", change_choices),
                  ("confidence.choices", conf_choices)]
        scales += [(f"items[{i}].grades", it.grades) for i, it in enumerate(items)]
        for where, scale in scales:
            for c in scale:
                if c.key is not None and c.key in nav:
                    self.fail(f"{where}", f"key {c.key!r} of value {c.value!r} is already the "
                              f"navigation key of {nav[c.key]}")
        return Rubric(
            name=name,
            version=version.strip(),
            title=self.string(data, "title", "", required=False, default=name),
            description=self.string(data, "description", "", required=False),
            references=tuple(references),
            items=tuple(items),
            levels=levels,
            change_choices=change_choices,
            confidence_choices=conf_choices,
            level_required=self.boolean(level, "required", "level.", True),
            confidence_required=self.boolean(conf, "required", "confidence.", False),
            keys=case_keys,
            level_label=self.string(level, "label", "level.", required=False,
                                    default="Affected level") or "Affected level",
            source=self.source,
            text=self.text,
        )
