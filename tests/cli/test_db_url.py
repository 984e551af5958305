"""``--db postgresql://...`` wherever ``--db`` is, ``$SPONDY_DB`` for the reading room, and
messages that never show a password."""

from __future__ import annotations

import re
from pathlib import Path

import pg_fixtures
import pytest

from spondy_annotate.cli import main
from spondy_annotate.grading.rubric_toml import default_rubric
from spondy_annotate.grading.store import Store
from spondy_annotate.projectdb.location import DB_ENV, grading_db

#: The fixtures of the test server (pytest finds them as this module's names).
pg_server, pg_url = pg_fixtures.pg_server, pg_fixtures.pg_url

STUDY = 'readers = ["AB", "CD"]\n'


def graded(url: str) -> str:
    """A case graded by AB in the database ``url``; its case ID."""
    with Store(url) as store:
        case = store.register_case("P1", "1.1", "2021-01-04", "1.2", "2021-03-01")
        session = store.start_session("AB", rubric=default_rubric())
        store.record_answer(session, case, "marrow_edema.change", "improved")
    return case


def test_study_export_and_merge_take_a_url(
    pg_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    study = tmp_path / "study.toml"
    study.write_text(STUDY)
    secret = pg_url.replace("postgres@", "postgres:s3cret@")
    assert main(["study", "create", str(study), "--db", secret]) == 0
    case = graded(pg_url)
    assert main(["study", "status", "--db", secret, "--json"]) == 0
    out = tmp_path / "gradings.csv"
    assert main(["export", "--db", secret, "--out", str(out)]) == 0
    assert case in out.read_text()
    archive = tmp_path / "archive.sqlite"
    assert main(["merge", secret, "--into", str(archive)]) == 0
    with Store(archive) as store:
        assert [a.value for a in store.history()] == ["improved"]
    assert main(["merge", str(archive), "--into", secret]) == 0  # into the server: nothing new
    text = capsys.readouterr()
    assert "0 answer(s) added (1 already there)" in text.out
    assert "s3cret" not in text.out + text.err


def test_unreachable_server_is_one_line_without_password(
    pg_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    port = int(re.findall(r":(\d+)/", pg_url)[0])
    nowhere = pg_url.replace("postgres@", "postgres:s3cret@").replace(f":{port}/", f":{port + 1}/")
    assert main(["study", "show", "--db", nowhere]) == 1
    err = capsys.readouterr().err
    assert err.startswith(f"spondy-annotate: error: postgresql://postgres@127.0.0.1:{port + 1}/")
    assert "unreachable" in err and "s3cret" not in err and len(err.splitlines()) == 1


def test_grading_db_explicit_then_environment_then_the_local_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    local = tmp_path / "export.spondy.sqlite"
    monkeypatch.delenv(DB_ENV, raising=False)
    assert grading_db(local) == local
    monkeypatch.setenv(DB_ENV, "postgresql://ab@db/study")
    assert grading_db(local) == "postgresql://ab@db/study"
    assert grading_db(local, tmp_path / "other.sqlite") == tmp_path / "other.sqlite"
    monkeypatch.setenv(DB_ENV, str(tmp_path / "shared.sqlite"))
    assert grading_db(local) == tmp_path / "shared.sqlite"


def test_open_refuses_an_unreachable_database_before_any_window(
    small_export: Path,
    pg_url: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    port = int(re.findall(r":(\d+)/", pg_url)[0])
    nowhere = pg_url.replace(f":{port}/", f":{port + 1}/")
    monkeypatch.setenv("DISPLAY", ":99")  # a display is not what fails here
    assert main(["open", str(small_export), "--db", nowhere]) == 1
    assert "unreachable" in capsys.readouterr().err
    monkeypatch.setenv(DB_ENV, nowhere)
    assert main(["open", str(small_export)]) == 1  # the environment's, checked the same way
