"""Where a project database lives: beside the export, else in the user cache folder."""

from __future__ import annotations

import re
import sys
from pathlib import Path

import pytest

from spondy_annotate.projectdb.location import default_db_path, is_project_db


def test_default_db_path_beside_the_export(tmp_path: Path) -> None:
    export = tmp_path / "export"
    export.mkdir()
    assert default_db_path(export) == tmp_path / "export.spondy.sqlite"
    assert default_db_path(f"{export}/") == tmp_path / "export.spondy.sqlite"


@pytest.mark.skipif(sys.platform != "linux", reason="XDG_DATA_HOME is the Linux data folder")
def test_default_db_path_in_user_data_when_beside_is_not_writable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    export = tmp_path / "gone" / "export"  # its folder cannot be written (it does not exist)
    path = default_db_path(export)
    assert path.parent == tmp_path / "data" / "spondy_annotate" and path.parent.is_dir()
    assert re.fullmatch(r"[0-9a-f]{16}\.spondy\.sqlite", path.name)
    assert default_db_path(export) == path  # the same export, the same database
    assert default_db_path(tmp_path / "gone" / "other") != path


@pytest.mark.parametrize(
    ("name", "expected"),
    [("export.spondy.sqlite", True), ("g.SQLITE3", True), ("g.db", True), ("g.csv", False),
     ("g.xlsx", False), ("sqlite", False)],
)  # fmt: skip
def test_is_project_db_by_suffix(name: str, expected: bool) -> None:
    assert is_project_db(Path("/data") / name) is expected
