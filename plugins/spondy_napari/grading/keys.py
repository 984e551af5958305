"""The grading keys, without Qt: which key answers, moves or measures what.

The panel (:mod:`spondy_napari._qt.grading_panel`) only turns Qt key events into key names;
:meth:`GradingKeys.resolve` turns a name into a :class:`KeyCommand` for the field in focus, and
:func:`help_rows` lists the keys for the F1 help. Plain Python over the core's
:class:`~spondy_annotate.grading.rubric.Rubric`, tested without a viewer.

Keys (default rubric ``ahn2020``)
---------------------------------
One key answers the field in focus and moves on to the next empty required field; when the case
becomes complete the panel opens the next case that is not done. Value keys come from the rubric:

* grades ``0``-``3`` (the rubric's ``key`` of each grade);
* change ``i`` improved, ``u`` unchanged, ``a`` aggravated; ``Return`` accepts the change the two
  grades suggest (shown as a hint, never pre-selected: the change is the analysed judgement);
* level: the upper lumbar vertebra, ``1`` = L1-L2 ... ``5`` = L5-S1, and counting down from T12,
  ``0`` = T12-L1, ``9`` = T11-T12, ``8`` = T10-T11 (a rubric may set its own level keys);
* confidence ``y`` / ``?`` answer it from any field without moving the focus.

Navigation: ``Tab`` / ``Shift-Tab`` next / previous field, the rubric's jump keys (``l`` level,
``m`` oedema, ``p`` paravertebral, ``c`` confidence; ``n`` stays the reading room's next case),
``d`` measures the disc height on the active side, ``Delete`` / ``Backspace`` clear the field,
``Return`` on the note edits it. Keys a rubric uses as values win over the reading room's (the
``3`` DICOM window preset is then in the Window box only); jump keys never shadow the reading
room's keys.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal

from spondy_annotate.grading.rubric import CASE_ITEM, Choice, Field, FieldKind, ItemType, Rubric

if TYPE_CHECKING:
    from spondy_annotate.grading.rubric import AnswerValue

#: Key names the panel passes for the non-printing keys it handles.
TAB, BACKTAB, RETURN, ESCAPE, DELETE = "Tab", "Shift+Tab", "Return", "Escape", "Delete"

CommandKind = Literal["answer", "goto", "measure", "clear", "edit", "cancel", "refuse"]

_LEVEL_RE = re.compile(r"^\s*([CTLS])(\d+)\s*[-/]\s*([CTLS])(\d+)\s*$", re.IGNORECASE)


@dataclass(frozen=True)
class KeyCommand:
    """What a key press asks for.

    ``answer``: set ``field`` to ``value`` (``advance``: then move on); ``goto``: focus ``field``;
    ``measure``: draw item ``field`` (a measurement item id) on the side clicked; ``clear``: clear
    the field in focus; ``edit``: type the note; ``cancel``: stop drawing; ``refuse``: the key is a grading key but means nothing here (``message`` says why).
    """

    kind: CommandKind
    field: str | None = None
    value: AnswerValue = None
    advance: bool = True
    message: str = ""


def level_keys(levels: Sequence[Choice]) -> dict[str, str]:
    """Keys of the level choices: the rubric's own, else the vertebra mnemonic, else 1-9.

    The mnemonic is the upper lumbar vertebra (``L4-L5`` -> ``4``) and, counting down from T12,
    ``T12-L1`` -> ``0``, ``T11-T12`` -> ``9``, ``T10-T11`` -> ``8``; it is used when every level
    has such a key and no two share one.
    """
    explicit = {c.key: str(c.value) for c in levels if c.key}
    if explicit:
        return explicit
    wanted: dict[str, str] = {}
    for c in levels:
        m = _LEVEL_RE.match(str(c.value))
        region, number = (m.group(1).upper(), int(m.group(2))) if m else ("", 0)
        key = (
            str(number % 10) if region == "L" else str((number - 12) % 10) if region == "T" else ""
        )
        if not key or key in wanted:
            wanted = {}
            break
        wanted[key] = str(c.value)
    if wanted:
        return wanted
    return {str(i): str(c.value) for i, c in enumerate(levels[:9], start=1)}


@dataclass(frozen=True)
class GradingKeys:
    """The grading keys of a rubric, with those the reading room keeps left out.

    Build it with :meth:`from_rubric`; :meth:`resolve` turns a key into a :class:`KeyCommand`.
    """

    rubric: Rubric
    values: Mapping[str, Mapping[str, AnswerValue]]
    jumps: Mapping[str, str]
    measures: Mapping[str, str]
    direct: Mapping[str, tuple[str, AnswerValue]]
    dropped: Mapping[str, str] = field(default_factory=dict)

    @classmethod
    def from_rubric(cls, rubric: Rubric, *, reserved: Iterable[str] = ()) -> GradingKeys:
        """Keys of ``rubric``; ``reserved`` keys (the reading room's) are never jump keys."""
        taken = {k.lower() for k in reserved}
        values: dict[str, dict[str, AnswerValue]] = {}
        for f in rubric.fields:
            if f.kind is FieldKind.LEVEL:
                values[f.key] = dict(level_keys(f.choices))
            elif f.choices:
                values[f.key] = {c.key.lower(): c.value for c in f.choices if c.key}
        # A value key of exactly one field answers it from anywhere (confidence y / ?).
        owners: dict[str, list[str]] = {}
        for key, mapping in values.items():
            for k in mapping:
                owners.setdefault(k, []).append(key)
        direct = {
            k: (keys[0], values[keys[0]][k])
            for k, keys in owners.items()
            if len(keys) == 1
            and rubric.field(keys[0]).item == CASE_ITEM
            and rubric.field(keys[0]).kind is not FieldKind.LEVEL
        }
        jumps: dict[str, str] = {}
        measures: dict[str, str] = {}
        dropped: dict[str, str] = {}
        measured = {it.id for it in rubric.items if it.type is ItemType.MEASUREMENT}
        for k, target in rubric.shortcuts.items():
            k = k.lower()
            if k in taken or k in owners:
                dropped[k] = target
            elif rubric.field(target).item in measured:
                measures[k] = rubric.field(target).item
            else:
                jumps[k] = target
        return cls(rubric, values, jumps, measures, direct, dropped)

    @property
    def all_value_keys(self) -> set[str]:
        """Every key that answers some field (taken from the reading room while grading)."""
        return {k for mapping in self.values.values() for k in mapping}

    def choices_text(self, key: str) -> str:
        """``"0 None · 1 Endplate · ..."``: the keys of field ``key`` for a hint."""
        f = self.rubric.field(key)
        mapping = self.values.get(key, {})
        by_value = {v: k for k, v in mapping.items()}
        return " · ".join(f"{by_value.get(c.value, '')} {c.label}".strip() for c in f.choices)

    def resolve(
        self, key: str, current: Field, *, suggestion: str | None = None
    ) -> KeyCommand | None:
        """The command of ``key`` with ``current`` in focus; None lets the key through.

        ``key`` is a character (``"3"``, ``"i"``, ``"?"``) or one of :data:`TAB`,
        :data:`BACKTAB`, :data:`RETURN`, :data:`ESCAPE`, :data:`DELETE`.
        """
        if key == TAB:
            return KeyCommand("goto", _step(self.rubric, current.key, +1))
        if key == BACKTAB:
            return KeyCommand("goto", _step(self.rubric, current.key, -1))
        if key == DELETE:
            return KeyCommand("clear", current.key)
        if key == ESCAPE:
            return KeyCommand("cancel")
        if key == RETURN:
            if current.kind is FieldKind.CHANGE and suggestion is not None:
                return KeyCommand("answer", current.key, suggestion)
            if current.kind is FieldKind.MEASUREMENT:
                return KeyCommand("measure", current.item)
            if current.kind is FieldKind.NOTE:
                return KeyCommand("edit", current.key)
            return None
        k = key  # Shift+letter arrives upper-case and goes on to the reading room (Shift-N)
        mapping = self.values.get(current.key, {})
        if k in mapping:
            return KeyCommand("answer", current.key, mapping[k])
        if k in self.direct:
            target, value = self.direct[k]
            return KeyCommand("answer", target, value, advance=False)
        if k in self.measures:
            return KeyCommand("measure", self.measures[k])
        if k in self.jumps:
            return KeyCommand("goto", self.jumps[k])
        if k in self.all_value_keys:
            allowed = self.choices_text(current.key) if current.choices else "Tab to a field first"
            return KeyCommand("refuse", current.key, message=f"{current.label}: {allowed}")
        return None


def help_rows(keys: GradingKeys, *, reserved: Iterable[str] = ()) -> list[tuple[str, str]]:
    """``(keys, what they do)`` rows of the grading keys, short enough for the F1 help."""
    rubric = keys.rubric
    by_kind: dict[FieldKind, dict[str, str]] = {}
    for f in rubric.fields:
        if f.kind in (FieldKind.LEVEL, FieldKind.GRADE, FieldKind.CHANGE):
            labels = {str(c.value): c.label for c in f.choices}
            for k, v in keys.values.get(f.key, {}).items():
                by_kind.setdefault(f.kind, {})[k] = labels.get(str(v), str(v))
    rows: list[tuple[str, str]] = []
    grades = by_kind.get(FieldKind.GRADE, {})
    if grades:
        rows.append((" ".join(sorted(grades)), "grade of the field in focus (scales in the panel)"))
    changes = by_kind.get(FieldKind.CHANGE, {})
    if changes:
        rows.append(
            (" / ".join(changes), "change: " + " / ".join(v.lower() for v in changes.values()))
        )
    levels = by_kind.get(FieldKind.LEVEL, {})
    if levels:
        order = sorted(levels, key=lambda k: list(levels.values()).index(levels[k]))
        rows.append(
            (" ".join(sorted(levels)), "level: " + ", ".join(f"{k} {levels[k]}" for k in order))
        )
    if keys.direct:
        names = " / ".join(str(v) for _, v in keys.direct.values())
        rows.append((" / ".join(keys.direct), f"{names} (from any field)"))
    for k, item in keys.measures.items():
        rows.append(
            (
                k,
                f"draw the {rubric.item(item).label.lower()} line: press on one endplate, "
                "release on the other",
            )
        )
    if keys.jumps:
        rows.append(
            (
                " ".join(keys.jumps),
                "go to "
                + ", ".join(
                    rubric.field(t).label.split(":")[0].lower() for t in keys.jumps.values()
                ),
            )
        )
    rows += [
        ("Tab / Shift-Tab", "next / previous field"),
        ("Return", "accept the suggested change; draw the line; type the note"),
        ("Del / Esc", "clear the field in focus / cancel the line"),
    ]
    taken = sorted(k for k in keys.all_value_keys if k in {r.lower() for r in reserved})
    if taken:
        rows.append((" ".join(taken), "are answers while grading (window presets: Window box)"))
    return rows


def _step(rubric: Rubric, key: str, step: int) -> str:
    keys = [f.key for f in rubric.fields]
    return keys[(keys.index(key) + step) % len(keys)]
