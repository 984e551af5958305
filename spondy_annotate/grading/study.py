"""A reader study: who reads which cases in which order, blinded how, repeated and adjudicated how.

A study is defined once per project database as a small TOML text kept in the database (meta
key :data:`STUDY_META_KEY`) and cannot be changed once reading has started (an answer of a
study reader exists). Every choice it makes is reproducible from the text alone: the random
parts (order, subset, repeats) are keyed hashes of the case ID with a seed per reader, and the
seeds missing from the text are drawn when the study is created and written into it.

.. code-block:: toml

    readers = ["AB", "CD"]
    adjudicators = ["EF"]

    [assignment]
    share = 1.0                      # each reader reads this share of the cases (1.0: all)
    # cases.AB = ["C-7F3A91", ...]   # or a stated list of case IDs for a reader

    [order]
    random = true                    # false: by case ID
    seeds = { AB = 1234, CD = 5678 } # drawn at creation when missing

    [blinding]
    hide_dates = true                # labs are never shown to a reader
    first_pass_per_timepoint = false # each MRI graded alone first, in random order

    [repeats]
    share = 0.2                      # cases read again (intra-reader agreement)
    washout_days = 28                # after the first reading was finished

    [adjudication]
    items = []                       # item IDs; empty: every item of the rubric
    change_differs = true            # a different change judgement is a disagreement
    grades_apart = 1                 # grades more than this apart (omit: not checked)
    disc_height_mm_apart = 2.0       # measurements more than this apart in mm (omit: no)

Examples
--------
>>> study = parse_study('readers = ["AB", "CD"]')
>>> study.readers, study.hide_dates
(('AB', 'CD'), True)
"""

from __future__ import annotations

import hashlib
import re
import secrets
import sys
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from spondy_annotate.errors import ConfigError
from spondy_annotate.grading.readings import CONSENSUS_READER, ReadKind, parse_reading_label

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

__all__ = ["STUDY_META_KEY", "AdjudicationRule", "Study", "StudyError", "parse_study"]

#: Key of the study's TOML text in the project database's ``meta`` table.
STUDY_META_KEY = "study"


class StudyError(ConfigError):
    """A study definition that cannot be used, or a change the study does not allow."""


@dataclass(frozen=True)
class AdjudicationRule:
    """What counts as a disagreement to adjudicate.

    Attributes
    ----------
    items
        Item IDs checked; empty: every item of the rubric.
    change_differs
        Two readers' change judgements of an item differ.
    grades_apart
        Two readers' grades of an item at one timepoint differ by more than this (None: not
        checked).
    disc_height_mm_apart
        Two readers' measurements of an item at one timepoint differ by more than this many mm
        (None: not checked).
    """

    items: tuple[str, ...] = ()
    change_differs: bool = True
    grades_apart: int | None = None
    disc_height_mm_apart: float | None = None


@dataclass(frozen=True)
class Study:
    """A reader study (see the module docstring for the TOML form).

    Attributes
    ----------
    readers
        Who reads, in order.
    adjudicators
        Who may record consensus answers.
    share
        Share of the cases each reader reads (1.0: all), chosen per reader by seed.
    case_lists
        Stated case IDs of a reader (instead of ``share``).
    random_order
        Whether each reader's order is random (else by case ID).
    seeds
        The seed of each reader (order, subset and repeats).
    hide_dates
        Whether study dates are hidden from readers. Labs are never shown.
    first_pass_per_timepoint
        Whether each MRI is graded alone, in random order, before the pairs are read.
    repeat_share, washout_days
        Share of a reader's cases read again, and the days after their first reading.
    rule
        The adjudication rule.
    text
        The TOML text (with the seeds written in).
    """

    readers: tuple[str, ...]
    adjudicators: tuple[str, ...] = ()
    share: float = 1.0
    case_lists: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    random_order: bool = True
    seeds: Mapping[str, int] = field(default_factory=dict)
    hide_dates: bool = True
    first_pass_per_timepoint: bool = False
    repeat_share: float = 0.0
    washout_days: int = 28
    rule: AdjudicationRule = field(default_factory=AdjudicationRule)
    text: str = field(default="", repr=False, compare=False)

    # ------------------------------------------------------------------ per reader

    def seed(self, reader: str) -> int:
        """The seed of ``reader`` (:class:`StudyError` for someone not reading the study)."""
        self.check_reader(reader)
        return self.seeds[reader]

    def check_reader(self, reader: str) -> None:
        """Raise :class:`StudyError` unless ``reader`` is one of :attr:`readers`."""
        if reader not in self.readers:
            raise StudyError(
                f"{reader!r} is not a reader of the study (readers: {', '.join(self.readers)})"
            )

    def assigned(self, reader: str, case_ids: Iterable[str]) -> list[str]:
        """The cases of ``case_ids`` that ``reader`` reads, in the reader's order."""
        seed = self.seed(reader)
        ids = set(case_ids)
        if reader in self.case_lists:
            chosen = [c for c in self.case_lists[reader] if c in ids]
        else:
            chosen = [c for c in ids if _draw(seed, "subset", c) < self.share]
        if self.random_order:
            return sorted(chosen, key=lambda c: (_draw(seed, "order", c), c))
        return sorted(chosen)

    def repeats(self, reader: str, case_ids: Iterable[str]) -> list[str]:
        """The assigned cases that ``reader`` reads again, in the order of their repeat."""
        seed = self.seed(reader)
        chosen = [c for c in self.assigned(reader, case_ids) if _draw(seed, "repeat", c) <
                  self.repeat_share]  # fmt: skip
        return sorted(chosen, key=lambda c: (_draw(seed, "repeat order", c), c))

    def first_pass(self, reader: str, case_ids: Iterable[str]) -> list[tuple[str, str]]:
        """``(case ID, "baseline" | "followup")`` of the single-timepoint pass, in random order."""
        if not self.first_pass_per_timepoint:
            return []
        seed = self.seed(reader)
        tasks = [
            (c, tp) for c in self.assigned(reader, case_ids) for tp in ("baseline", "followup")
        ]
        return sorted(tasks, key=lambda t: (_draw(seed, f"timepoint {t[1]}", t[0]), t))

    def is_study_reader(self, label: str) -> bool:
        """Whether a stored reader label is a reading of one of the study's readers."""
        reader, _ = parse_reading_label(label)
        return reader in self.readers


def _draw(seed: int, purpose: str, case_id: str) -> float:
    """A uniform number in [0, 1) fixed by the seed, the purpose and the case ID."""
    digest = hashlib.sha256(f"{seed}\x1f{purpose}\x1f{case_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


# ---------------------------------------------------------------------------- TOML


def parse_study(text: str, *, source: str = "<study>") -> Study:
    """Read a study from its TOML text; seeds missing from it are drawn and written in.

    Raises
    ------
    StudyError
        Naming ``source`` and the key: not TOML, no readers, a reserved or repeated reader
        name, a share outside 0..1, an unknown key.
    """
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise StudyError(f"{source}: not a TOML file ({exc})") from None
    _only(data, {"readers", "adjudicators", "assignment", "order", "blinding", "repeats",
                 "adjudication"}, source, "")  # fmt: skip
    readers = _names(data.get("readers"), source, "readers")
    if not readers:
        raise StudyError(f"{source}: readers: at least one reader is needed")
    adjudicators = _names(data.get("adjudicators", []), source, "adjudicators")
    assignment = _table(data, "assignment", source, {"share", "cases"})
    order = _table(data, "order", source, {"random", "seeds"})
    blinding = _table(data, "blinding", source, {"hide_dates", "first_pass_per_timepoint"})
    repeats = _table(data, "repeats", source, {"share", "washout_days"})
    adjudication = _table(
        data, "adjudication", source,
        {"items", "change_differs", "grades_apart", "disc_height_mm_apart"},
    )  # fmt: skip
    lists = assignment.get("cases", {})
    if not isinstance(lists, dict) or any(r not in readers for r in lists):
        raise StudyError(f"{source}: assignment.cases: a table of readers' case ID lists")
    seeds = order.get("seeds", {})
    if not isinstance(seeds, dict) or not all(
        isinstance(v, int) and not isinstance(v, bool) for v in seeds.values()
    ):
        raise StudyError(f"{source}: order.seeds: a table of integer seeds by reader")
    missing = [r for r in readers if r not in seeds]
    if missing:
        drawn = {r: secrets.randbelow(2**31) for r in missing}
        if "seeds" in order and not re.search(r"^\[order\.seeds\]", text, flags=re.MULTILINE):
            raise StudyError(f"{source}: order.seeds: give a seed for every reader or none")
        return parse_study(_with_seeds(text, drawn), source=source)
    rule = AdjudicationRule(
        items=tuple(_names(adjudication.get("items", []), source, "adjudication.items")),
        change_differs=_bool(adjudication, "change_differs", True, source),
        grades_apart=_number(adjudication, "grades_apart", None, source, int),
        disc_height_mm_apart=_number(adjudication, "disc_height_mm_apart", None, source, float),
    )
    return Study(
        readers=readers,
        adjudicators=adjudicators,
        share=_share(assignment, source, "assignment.share", 1.0),
        case_lists={r: tuple(_names(v, source, f"assignment.cases.{r}")) for r, v in lists.items()},
        random_order=_bool(order, "random", True, source),
        seeds={r: int(seeds[r]) for r in readers},
        hide_dates=_bool(blinding, "hide_dates", True, source),
        first_pass_per_timepoint=_bool(blinding, "first_pass_per_timepoint", False, source),
        repeat_share=_share(repeats, source, "repeats.share", 0.0),
        washout_days=int(_number(repeats, "washout_days", 28, source, int) or 0),
        rule=rule,
        text=text,
    )


def _with_seeds(text: str, seeds: Mapping[str, int]) -> str:
    """``text`` with the drawn seeds recorded under ``[order.seeds]`` (or ``[order]``)."""
    header = "# seeds drawn when the study was created\n"
    for pattern, prefix in (
        (r"^\[order\.seeds\][ \t]*(#.*)?$", ""),
        (r"^\[order\][ \t]*(#.*)?$", "seeds."),
    ):
        found = re.search(pattern, text, flags=re.MULTILINE)
        if found:
            at = found.end() + 1
            lines = "".join(f'{prefix}"{r}" = {s}\n' for r, s in seeds.items())
            return text[:at] + header + lines + text[at:]
    lines = "".join(f'"{r}" = {s}\n' for r, s in seeds.items())
    return text.rstrip("\n") + "\n\n[order.seeds]\n" + header + lines


def _only(data: Mapping[str, Any], allowed: set[str], source: str, where: str) -> None:
    unknown = sorted(set(data) - allowed)
    if unknown:
        raise StudyError(f"{source}: {where}unknown key(s) {', '.join(unknown)}")


def _table(data: Mapping[str, Any], name: str, source: str, allowed: set[str]) -> dict[str, Any]:
    table = data.get(name, {})
    if not isinstance(table, dict):
        raise StudyError(f"{source}: {name}: a table is expected")
    _only(table, allowed, source, f"{name}: ")
    return table


def _names(value: object, source: str, key: str) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(v, str) and v.strip() for v in value):
        raise StudyError(f"{source}: {key}: a list of names is expected")
    names = tuple(v.strip() for v in value)
    if len(set(names)) < len(names):
        raise StudyError(f"{source}: {key}: a name is given twice")
    for name in names:
        if name == CONSENSUS_READER or parse_reading_label(name)[1] is not ReadKind.PAIR:
            raise StudyError(f"{source}: {key}: {name!r} is a reserved reader name")
    return names


def _bool(table: Mapping[str, Any], key: str, default: bool, source: str) -> bool:
    value = table.get(key, default)
    if not isinstance(value, bool):
        raise StudyError(f"{source}: {key}: true or false is expected")
    return value


def _number(
    table: Mapping[str, Any], key: str, default: float | None, source: str, kind: type
) -> Any:
    value = table.get(key, default)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
        raise StudyError(f"{source}: {key}: a number >= 0 is expected")
    if kind is int and not float(value).is_integer():
        raise StudyError(f"{source}: {key}: a whole number is expected")
    return kind(value)


def _share(table: Mapping[str, Any], source: str, key: str, default: float) -> float:
    value = _number(table, key.split(".")[-1], default, source, float)
    if value is None or value > 1:
        raise StudyError(f"{source}: {key}: a share between 0 and 1 is expected")
    return float(value)
