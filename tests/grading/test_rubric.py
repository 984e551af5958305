"""Rubrics: the built-ins load and are what the study needs; bad files give clear errors."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from spondy_annotate.errors import RubricError
from spondy_annotate.grading.rubric import (
    Change,
    Confidence,
    FieldKind,
    GradingStatus,
    ItemType,
    Measurement,
)
from spondy_annotate.grading.rubric_toml import (
    DEFAULT_RUBRIC,
    builtin_rubrics,
    default_rubric,
    load_rubric,
    parse_rubric,
)

AHN_ITEMS = ["marrow_edema", "paravertebral_inflammation", "disc_height"]


@pytest.fixture(scope="module")
def ahn_text() -> str:
    return default_rubric().text


def test_builtins_listed_and_default() -> None:
    assert {"ahn2020", "kowalski2007"} <= set(builtin_rubrics())
    assert DEFAULT_RUBRIC == "ahn2020"
    assert default_rubric().name == "ahn2020"


@pytest.mark.parametrize("name", builtin_rubrics())
def test_builtin_loads_completely(name: str) -> None:
    rubric = load_rubric(name)
    assert rubric.name == name and rubric.version and rubric.references
    assert [c.value for c in rubric.change_choices] == [c.value for c in Change]
    assert {c.value for c in rubric.confidence_choices} == {c.value for c in Confidence}
    assert "L4-L5" in [c.value for c in rubric.levels]
    for item in rubric.items:
        assert item.label and item.description
        values = [g.value for g in item.grades]
        assert values == list(range(len(values)))  # 0..n, sorted
        assert all(g.label and g.description for g in item.grades)
    assert all(c.label and c.description for c in rubric.change_choices)
    # the text is kept and parses to the same rubric (it is stored with every session)
    assert parse_rubric(rubric.text) == rubric
    assert len(rubric.sha256) == 64


def test_ahn_items_and_scales() -> None:
    rubric = default_rubric()
    assert [it.id for it in rubric.items] == AHN_ITEMS
    assert [g.value for g in rubric.item("marrow_edema").grades] == [0, 1, 2, 3]
    assert "endplate" in rubric.item("marrow_edema").grades[1].description.lower()
    para = rubric.item("paravertebral_inflammation").grades
    assert "abscess" in para[2].label.lower() and "psoas" in para[3].description.lower()
    disc = rubric.item("disc_height")
    assert disc.type is ItemType.MEASUREMENT and disc.unit == "mm"
    assert [g.value for g in disc.grades] == [0, 1, 2]


def test_kowalski_extends_ahn() -> None:
    ids = [it.id for it in load_rubric("kowalski2007").items]
    assert set(AHN_ITEMS) < set(ids)
    assert {
        "epidural_abscess",
        "vertebral_height_loss",
        "vertebral_enhancement",
        "disc_enhancement",
    } <= set(ids)


def test_fields_in_keyboard_order() -> None:
    keys = [f.key for f in default_rubric().fields]
    assert keys == [
        "level",
        "marrow_edema.baseline",
        "marrow_edema.followup",
        "marrow_edema.change",
        "paravertebral_inflammation.baseline",
        "paravertebral_inflammation.followup",
        "paravertebral_inflammation.change",
        "disc_height.baseline_mm",
        "disc_height.baseline",
        "disc_height.followup_mm",
        "disc_height.followup",
        "disc_height.change",
        "confidence",
        "note",
    ]
    rubric = default_rubric()
    assert rubric.field("disc_height.followup_mm").kind is FieldKind.MEASUREMENT
    assert rubric.field("marrow_edema.change").kind is FieldKind.CHANGE
    assert rubric.field_for("case", "level") is rubric.field("level")
    assert not rubric.field("note").required and not rubric.field("confidence").required
    with pytest.raises(KeyError, match="no field"):
        rubric.field("marrow_edema.lateral")


def test_shortcuts_jump_to_first_field_of_item() -> None:
    rubric = default_rubric()
    assert rubric.shortcuts == {
        "l": "level",
        "c": "confidence",
        "n": "note",
        "m": "marrow_edema.baseline",
        "p": "paravertebral_inflammation.baseline",
        "d": "disc_height.baseline_mm",
    }
    assert rubric.field("marrow_edema.change").choices[0].key == "i"
    assert [c.key for c in rubric.field("marrow_edema.baseline").choices] == ["0", "1", "2", "3"]


def _complete() -> dict[str, object]:
    values: dict[str, object] = {"level": "L4-L5"}
    for item in AHN_ITEMS:
        values |= {f"{item}.baseline": 2, f"{item}.followup": 1, f"{item}.change": "improved"}
    values |= {"disc_height.baseline_mm": 8.0, "disc_height.followup_mm": 6.5}
    return values


def test_completeness_and_status() -> None:
    rubric = default_rubric()
    values = _complete()
    assert rubric.is_complete(values) and rubric.status(values) is GradingStatus.DONE
    assert rubric.status({}) is GradingStatus.NOT_STARTED
    assert rubric.status({"note": None}) is GradingStatus.NOT_STARTED
    del values["disc_height.followup_mm"]
    assert [f.key for f in rubric.missing_fields(values)] == ["disc_height.followup_mm"]
    assert rubric.status(values) is GradingStatus.PARTLY
    assert rubric.status({"note": "looked at it"}) is GradingStatus.PARTLY


@pytest.mark.parametrize(
    ("key", "value", "expected"),
    [
        ("level", "L5-S1", "L5-S1"),
        ("marrow_edema.baseline", 3, 3),
        ("marrow_edema.change", Change.AGGRAVATED, "aggravated"),
        ("confidence", "uncertain", "uncertain"),
        ("note", "  fused L4-L5  ", "fused L4-L5"),
        ("note", "   ", None),
        ("disc_height.baseline_mm", 7, Measurement(7.0)),
        ("marrow_edema.followup", None, None),
    ],
)
def test_validate_value_accepts(key: str, value: object, expected: object) -> None:
    assert default_rubric().validate_value(key, value) == expected


@pytest.mark.parametrize(
    ("key", "value", "match"),
    [
        ("level", "L6-S1", "not allowed"),
        ("marrow_edema.baseline", 4, "not allowed"),
        ("marrow_edema.baseline", "2", "must be an int"),
        ("marrow_edema.baseline", True, "must be an int"),
        ("disc_height.baseline", 3, "not allowed"),
        ("marrow_edema.change", "better", "not allowed"),
        ("disc_height.baseline_mm", -1.0, ">= 0"),
        ("disc_height.baseline_mm", math.nan, ">= 0"),
        ("disc_height.baseline_mm", Measurement(5.0, (0, 0, 0), None), "both line endpoints"),
        ("disc_height.baseline_mm", Measurement(50.0, (0, 0, 0), (0, 3, 4)), "line length"),
        ("disc_height.baseline_mm", "5 mm", "Measurement"),
    ],
)
def test_validate_value_rejects(key: str, value: object, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        default_rubric().validate_value(key, value)


def test_measurement_from_points_and_json() -> None:
    m = Measurement.from_points((10.0, -2.0, 3.0), (10.0, 1.0, 7.0))
    assert m.mm == pytest.approx(5.0)
    assert Measurement.from_json(m.to_json()) == m
    assert default_rubric().validate_value("disc_height.followup_mm", m) == m


def test_load_by_path(tmp_path: Path, ahn_text: str) -> None:
    path = tmp_path / "mine.toml"
    path.write_text(ahn_text.replace('name = "ahn2020"', 'name = "mine"'), encoding="utf-8")
    rubric = load_rubric(path)
    assert rubric.name == "mine" and rubric.source == str(path)
    assert load_rubric(str(path)).name == "mine"


def test_unknown_name_and_missing_file(tmp_path: Path) -> None:
    with pytest.raises(RubricError, match="unknown rubric 'nope'.*ahn2020"):
        load_rubric("nope")
    with pytest.raises(RubricError, match="no such rubric file"):
        load_rubric(tmp_path / "missing.toml")


# Each bad file is the default rubric with one edit: (old text, new text, expected message).
BAD_EDITS = {
    "toml_syntax": ('version = "1.0"', 'version = "1.0', r"invalid TOML: .*line 11"),
    "missing_name": ('name = "ahn2020"', "", r"name: missing required key"),
    "missing_version": ('version = "1.0"', "", r"version: missing required key"),
    "version_not_string": ('version = "1.0"', "version = 1.0", r"version: expected a string"),
    "duplicate_item_id": (
        'id = "disc_height"',
        'id = "marrow_edema"',
        r"line \d+: items\[2\]\.id: duplicate item id 'marrow_edema'",
    ),
    "unknown_type": ('type = "grade"', 'type = "slider"', r"items\[0\]\.type: unknown item type"),
    "duplicate_nav_key": (
        'key = "p"',
        'key = "m"',
        r"line \d+: items\[1\]\.key: duplicate key binding 'm'",
    ),
    "duplicate_choice_key": (
        '{ value = 1, label = "Endplate", key = "1"',
        '{ value = 1, label = "Endplate", key = "0"',
        r"items\[0\]\.grades\[1\]\.key: duplicate key binding '0'",
    ),
    "choice_key_shadows_nav": (
        'label = "Improved", key = "i"',
        'label = "Improved", key = "m"',
        r"change\.choices: key 'm' .* navigation key",
    ),
    "change_values": (
        'value = "aggravated"',
        'value = "worse"',
        r"change\.choices: values must be exactly aggravated, improved, unchanged",
    ),
    "unknown_top_key": ('title = "', 'titel = "', r"top level: unknown key 'titel'"),
    "grade_not_int": (
        '{ value = 3, label = "> half"',
        '{ value = "3", label = "> half"',
        r"items\[0\]\.grades\[3\]\.value: a grade must be an integer",
    ),
    "duplicate_grade": (
        '{ value = 3, label = "> half"',
        '{ value = 2, label = "> half"',
        r"items\[0\]\.grades\[3\]\.value: duplicate value 2",
    ),
    "bad_item_id": ('id = "marrow_edema"', 'id = "Marrow edema"', r"items\[0\]\.id: .*not a valid"),
    "reserved_item_id": ('id = "marrow_edema"', 'id = "case"', r"items\[0\]\.id: .*not a valid"),
    "unit_on_grade": (
        'type = "grade"\nkey = "m"',
        'type = "grade"\nunit = "mm"\nkey = "m"',
        r"items\[0\]: 'unit'",
    ),
    "bad_unit": ('unit = "mm"', 'unit = "cm"', r"items\[2\]\.unit: only 'mm'"),
    "no_items": ("[[items]]", "[[things]]", r"unknown key 'things'"),
    "missing_label": ('label = "Bone marrow oedema"\n', "", r"items\[0\]\.label: missing"),
}


@pytest.mark.parametrize("case", list(BAD_EDITS))
def test_bad_rubric_file(tmp_path: Path, ahn_text: str, case: str) -> None:
    old, new, match = BAD_EDITS[case]
    assert old in ahn_text, f"the edit {case!r} no longer applies to ahn2020.toml"
    path = tmp_path / f"{case}.toml"
    path.write_text(ahn_text.replace(old, new, 1), encoding="utf-8")
    with pytest.raises(RubricError, match=match) as info:
        load_rubric(path)
    message = str(info.value)
    assert message.startswith(f"{path}: ") and "\n" not in message


MINIMAL = """
name = "mini"
version = "0.1"
[level]
choices = ["L3-L4", "L4-L5"]
[change]
choices = [{ value = "improved" }, { value = "unchanged" }, { value = "aggravated" }]
[confidence]
choices = [{ value = "confident" }, { value = "uncertain" }]
[[items]]
id = "edema"
label = "Edema"
grades = [{ value = 1, label = "Some" }, { value = 0, label = "None" }]
"""


def test_minimal_rubric_defaults() -> None:
    rubric = parse_rubric(MINIMAL)
    assert rubric.items[0].type is ItemType.GRADE
    assert [g.value for g in rubric.items[0].grades] == [0, 1]  # sorted by value
    assert rubric.levels[0].label == "L3-L4" and rubric.levels[0].key is None
    assert [f.key for f in rubric.fields] == [
        "level",
        "edema.baseline",
        "edema.followup",
        "edema.change",
        "confidence",
        "note",
    ]


@pytest.mark.parametrize(
    ("old", "new", "match"),
    [
        (
            'grades = [{ value = 1, label = "Some" }, { value = 0, label = "None" }]',
            "grades = []",
            r"items\[0\]\.grades: needs at least two choices, found none",
        ),
        (
            'grades = [{ value = 1, label = "Some" }, { value = 0, label = "None" }]',
            "",
            r"items\[0\]\.grades: needs at least two choices, found none",
        ),
        (
            '{ value = 1, label = "Some" }, ',
            "",
            r"items\[0\]\.grades: needs at least two choices, found one",
        ),
        (
            'choices = ["L3-L4", "L4-L5"]',
            "choices = []",
            r"level\.choices: needs at least two choices",
        ),
        (
            '[level]\nchoices = ["L3-L4", "L4-L5"]',
            "[level]",
            r"level\.choices: missing required key",
        ),
        (
            '[confidence]\nchoices = [{ value = "confident" }, { value = "uncertain" }]',
            "",
            r"confidence\.choices: needs at least two choices",
        ),
    ],
)
def test_empty_choices(old: str, new: str, match: str) -> None:
    assert old in MINIMAL
    with pytest.raises(RubricError, match=r"^mini\.toml: " + match):
        parse_rubric(MINIMAL.replace(old, new), source="mini.toml")


def test_no_items() -> None:
    text = MINIMAL[: MINIMAL.index("[[items]]")]
    with pytest.raises(RubricError, match=r"mini\.toml: items: needs at least one"):
        parse_rubric(text, source="mini.toml")
