"""Rubrics from TOML: the built-in rubrics, rubric files, and the schema check of their text.

A rubric file names the rubric (``name``, ``version``, ``title``, ``description``,
``references``), the ``[level]``, ``[change]`` and ``[confidence]`` choices, the ``[note]``
and one ``[[items]]`` table per assessed finding with its ``grades``; ``key`` on a field jumps
to it and ``key`` on a choice selects it (``spondy_annotate/grading/rubrics/ahn2020.toml`` is a
commented example). :func:`parse_rubric` checks every key and value and builds the
:class:`~spondy_annotate.grading.rubric.Rubric`; an error is one line naming the file, the key
and, where it can be found, the line. The built-in rubrics live in
``spondy_annotate/grading/rubrics/*.toml``; :data:`DEFAULT_RUBRIC` is the default.

Examples
--------
>>> rubric = default_rubric()
>>> [f.key for f in rubric.fields][:4]
['level', 'marrow_edema.baseline', 'marrow_edema.followup', 'marrow_edema.change']
>>> load_rubric("kowalski2007").name
'kowalski2007'
"""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Iterable, Mapping
from importlib import resources
from pathlib import Path
from typing import Any, NoReturn

from spondy_annotate.errors import RubricError
from spondy_annotate.grading.rubric import (
    CASE_ITEM,
    Change,
    Choice,
    Confidence,
    Item,
    ItemType,
    Rubric,
)

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

#: Name of the rubric used when none is given.
DEFAULT_RUBRIC = "ahn2020"

_ID_RE = re.compile(r"^[a-z][a-z0-9_]*$")


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
    "name",
    "version",
    "title",
    "description",
    "references",
    "level",
    "change",
    "confidence",
    "note",
    "items",
}
_ITEM_KEYS = {
    "id",
    "label",
    "description",
    "type",
    "key",
    "unit",
    "measurement_required",
    "change",
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
                self.fail(
                    where or "top level",
                    f"unknown key {k!r} (allowed: {', '.join(sorted(allowed))})",
                )

    def string(
        self,
        table: Mapping[str, Any],
        key: str,
        where: str,
        *,
        required: bool = True,
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
        if len(raw) < 2:
            self.fail(where, "needs at least two choices, found one")
        out: list[Choice] = []
        seen_values: dict[object, int] = {}
        seen_keys: dict[str, int] = {}
        for i, entry in enumerate(raw):
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
                self.fail(
                    f"{at}.value",
                    f"duplicate value {value!r} (first at {where}[{seen_values[value]}])",
                )
            seen_values[value] = i
            key = self.key(entry, f"{at}.")
            if key is not None:
                if key in seen_keys:
                    self.fail(
                        f"{at}.key",
                        f"duplicate key binding {key!r} (already bound by "
                        f"{where}[{seen_keys[key]}])",
                    )
                seen_keys[key] = i
            label = self.string(entry, "label", f"{at}.", required=False, default=str(value))
            out.append(
                Choice(
                    value,
                    label or str(value),
                    self.string(entry, "description", f"{at}.", required=False),
                    key,
                )
            )
        if allowed is not None:
            expected = set(allowed)
            if set(seen_values) != expected:
                self.fail(
                    where,
                    f"values must be exactly {', '.join(sorted(expected))}; got "
                    f"{', '.join(sorted(map(str, seen_values)))}",
                )
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
            self.fail(
                f"{at}.id",
                f"{item_id!r} is not a valid item id (lower-case letters, "
                f"digits and _, starting with a letter; not {CASE_ITEM!r})",
            )
        type_name = raw.get("type", ItemType.GRADE.value)
        try:
            item_type = ItemType(type_name)
        except ValueError:
            self.fail(
                f"{at}.type",
                f"unknown item type {type_name!r} (expected one of "
                f"{', '.join(t.value for t in ItemType)})",
            )
        unit = None
        if item_type is ItemType.MEASUREMENT:
            unit = self.string(raw, "unit", f"{at}.", required=False, default="mm") or "mm"
            if unit != "mm":
                self.fail(f"{at}.unit", f"only 'mm' is supported, got {unit!r}")
        elif "unit" in raw or "measurement_required" in raw:
            self.fail(
                at, "'unit'/'measurement_required' are only allowed with type = \"measurement\""
            )
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
            conf.get("choices"),
            "confidence.choices",
            kind=str,
            allowed=[c.value for c in Confidence],
        )
        note = self.table(data, "note")
        self.check_keys(note, {"key"}, "note")

        raw_items = data.get("items")
        if not isinstance(raw_items, list) or not raw_items:
            self.fail("items", "needs at least one [[items]] table")
        items: list[Item] = []
        first: dict[str, int] = {}
        for i, raw in enumerate(raw_items):
            item = self.item(raw, i)
            if item.id in first:
                self.fail(
                    f"items[{i}].id",
                    f"duplicate item id {item.id!r} (first at items[{first[item.id]}])",
                    line_of=("id", item.id, 2),
                )
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
        sources += [
            (f"items[{i}].key", f"items[{i}] ({it.id})", it.key) for i, it in enumerate(items)
        ]
        for where, what, key in sources:
            if key is None:
                continue
            if key in nav:
                self.fail(
                    where,
                    f"duplicate key binding {key!r} (already bound by {nav[key]})",
                    line_of=("key", key, 2),
                )
            nav[key] = what
            if "[" not in what:
                case_keys[what] = key
        scales = [
            ("level.choices", levels),
            ("change.choices", change_choices),
            ("confidence.choices", conf_choices),
        ]
        scales += [(f"items[{i}].grades", it.grades) for i, it in enumerate(items)]
        for where, scale in scales:
            for c in scale:
                if c.key is not None and c.key in nav:
                    self.fail(
                        f"{where}",
                        f"key {c.key!r} of value {c.value!r} is already the "
                        f"navigation key of {nav[c.key]}",
                    )
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
            level_label=self.string(
                level, "label", "level.", required=False, default="Affected level"
            )
            or "Affected level",
            source=self.source,
            text=self.text,
        )
