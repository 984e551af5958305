"""The grading keys and model (``spondy_napari.grading.keys``, ``.model``), without a viewer."""

from __future__ import annotations

import pg_fixtures
from pg_server import running_postgres
from spondy_napari.grading.keys import BACKTAB, RETURN, TAB, GradingKeys, help_rows, level_keys
from spondy_napari.grading.model import Grader, next_open, suggested_change

from spondy_annotate.grading.rubric_toml import default_rubric, parse_rubric
from spondy_annotate.grading.session import GradingSession

RUBRIC = default_rubric()
LEVEL_KEYS = {v: k for k, v in level_keys(RUBRIC.field("level").choices).items()}


def test_level_keys_follow_the_vertebra():
    assert LEVEL_KEYS == {
        "L1-L2": "1", "L2-L3": "2", "L3-L4": "3", "L4-L5": "4", "L5-S1": "5",
        "T12-L1": "0", "T11-T12": "9", "T10-T11": "8",
    }  # fmt: skip
    cervical = parse_rubric(
        RUBRIC.text.replace('"T10-T11", "T11-T12", "T12-L1"', '"C5-C6", "C6-C7", "T12-L1"')
    )
    assert level_keys(cervical.field("level").choices)["1"] == "C5-C6"  # falls back to 1-9


def test_keys_resolve_by_field_in_focus():
    keys = GradingKeys.from_rubric(RUBRIC, reserved={"n", "s", "3"})
    grade, change = RUBRIC.field("marrow_edema.baseline"), RUBRIC.field("marrow_edema.change")
    assert keys.resolve("2", grade).value == 2
    assert keys.resolve("i", change).value == "improved"
    assert keys.resolve("i", grade).kind == "refuse"  # a grading key, but not here
    assert keys.resolve("3", RUBRIC.field("disc_height.baseline")).kind == "refuse"  # 0-2 scale
    assert keys.resolve("?", grade).field == "confidence"  # from any field, no move
    assert keys.resolve("?", grade).advance is False
    assert keys.resolve("d", grade).kind == "measure"
    assert keys.resolve("m", change).field == "marrow_edema.baseline"
    assert keys.resolve("n", grade) is None  # the reading room's next case stays
    assert keys.resolve("N", grade) is None and keys.resolve("S", grade) is None
    assert keys.resolve(TAB, grade).field == "marrow_edema.followup"
    assert keys.resolve(BACKTAB, RUBRIC.field("level")).field == "note"  # wraps
    assert keys.resolve(RETURN, change, suggestion="aggravated").value == "aggravated"
    assert keys.resolve(RETURN, grade) is None
    rows = dict(help_rows(keys, reserved={"3", "4", "5"}))
    assert rows["3 4 5"].startswith("are answers while grading")
    assert rows["0 1 2 3"].startswith("grade") and rows["i / u / a"].startswith("change")


def test_suggested_change_and_next_open_case():
    values = {"marrow_edema.baseline": 2, "marrow_edema.followup": 1}
    assert suggested_change(RUBRIC, values, "marrow_edema.change") == "improved"
    assert (
        suggested_change(RUBRIC, {**values, "marrow_edema.followup": 3}, "marrow_edema.change")
        == "aggravated"
    )
    assert suggested_change(RUBRIC, {}, "marrow_edema.change") is None
    done = {0, 2}.__contains__
    assert next_open([0, 1, 2, 3], 0, done) == 1
    assert next_open([0, 1, 2, 3], 3, done) == 1  # wraps
    assert next_open([0, 2], 0, done) is None


def test_grader_saves_and_advances(tmp_path):
    with GradingSession.open(tmp_path / "g.sqlite", reader="r1", rubric=RUBRIC) as session:
        store = session.store
        case = store.register_case("P1", "1.1", "2021-01-01", "1.2", "2021-02-01")
        grader = Grader(session)
        grading = grader.load(case)
        assert grading.current == "level"
        outcome = grader.record(grading, "level", "L4-L5")
        assert outcome.next_field == "marrow_edema.baseline" and not outcome.completed
        assert outcome.save_status == "saved"
        grader.record(grading, "paravertebral_inflammation.baseline", 1)
        assert grading.current == "paravertebral_inflammation.followup"
        assert store.current_values(case, "r1", RUBRIC) == grading.values


def test_grader_says_saved_locally_while_the_server_is_down(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    with running_postgres(pg_fixtures.pg_bin(), fsync=False) as server:
        url = server.create_database("shared")
        with GradingSession.open(url, reader="r1", rubric=RUBRIC) as session:
            case = session.store.register_case("P1", "1.1", "2021-01-01", "1.2", "2021-02-01")
            grader = Grader(session)
            grading = grader.load(case)
            server.stop()
            outcome = grader.record(grading, "level", "L4-L5")
            assert outcome.save_status == "saved locally, not yet on the server (1 answer)"
            assert grading.values == {"level": "L4-L5"} and outcome.next_field != "level"
            assert grader.record(grading, "note", "x").pending == 2
            server.start()
            assert grader.record(grading, "note", "y").save_status == "saved"
            assert grader.load(case).values == {"level": "L4-L5", "note": "y"}
