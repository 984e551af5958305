"""open_export: the one "open an export" workflow (index through the header cache, pair cases)."""

import json
import os
import subprocess
import sys

import pytest
from dicom_factory import write_series, write_study

from spondy_annotate.cases.open import OpenedExport, open_export
from spondy_annotate.cases.pairing import CaseStatus
from spondy_annotate.errors import CaseSelectionError, DicomIndexError, SpondyError
from spondy_annotate.projectdb.location import default_db_path


@pytest.fixture
def export(tmp_path):
    root = tmp_path / "export"
    write_study(root, "P1", "20240115", "1.2.3.11", seed=10)
    write_study(root, "P1", "20240301", "1.2.3.12", seed=20)
    write_study(root, "P2", "20240201", "1.2.3.21", seed=30)
    for n, date in enumerate(("20230101", "20230301", "20230601")):
        write_study(root, "P3", date, f"1.2.3.3{n}", seed=40 + 10 * n)
    return root


def _files(root):
    return sorted(p for p in root.rglob("*") if p.is_file())


def test_second_open_of_an_unchanged_export_reads_no_header(export, tmp_path):
    db = tmp_path / "project.sqlite"
    first = open_export(export, cache=db)
    assert isinstance(first, OpenedExport)
    assert first.folder == export and first.db_path == db and db.is_file()
    assert first.index.headers_read == len(_files(export)) == 60
    assert {c.patient_id: c.status for c in first.cases} == {
        "P1": CaseStatus.READY,
        "P2": CaseStatus.INCOMPLETE,
        "P3": CaseStatus.NEEDS_CHOICE,
    }
    assert [p.label for p in first.cases[0].pairs] == ["SAG STIR", "SAG T1"]
    again = open_export(export, cache=db)
    assert again.index.headers_read == 0
    assert again.index.rows == first.index.rows
    assert again.cases == first.cases


def test_a_changed_file_is_read_again(export, tmp_path):
    db = tmp_path / "project.sqlite"
    open_export(export, cache=db)
    changed = _files(export / "P2")[0]
    os.utime(changed, ns=(1, 1))  # same content, another mtime
    files, _ = write_series(export / "P4" / "20240101", patient_id="P4", seed=99, slices=3)
    again = open_export(export, cache=db)
    assert again.index.headers_read == 1 + len(files)
    assert [c.patient_id for c in again.cases] == ["P1", "P2", "P3", "P4"]


def test_default_cache_is_the_project_database_beside_the_export(export):
    opened = open_export(export)
    assert opened.db_path == default_db_path(export) == export.parent / "export.spondy.sqlite"
    assert opened.db_path.is_file()
    assert open_export(export).index.headers_read == 0


def test_without_cache_every_header_is_read_and_no_database_is_made(export):
    for _ in range(2):
        opened = open_export(export, cache=False)
        assert opened.db_path is None
        assert opened.index.headers_read == 60
    assert not default_db_path(export).exists()
    assert [c.patient_id for c in opened.cases] == ["P1", "P2", "P3"]


def test_choices_and_progress_are_passed_on(export):
    calls = []
    opened = open_export(
        export,
        cache=False,
        choices={"P3": ("1", "3")},
        progress=lambda done, total: calls.append((done, total)),
    )
    p3 = opened.cases[2]
    assert p3.status is CaseStatus.READY and p3.followup.study_instance_uid == "1.2.3.32"
    assert calls[-1] == (60, 60)
    with pytest.raises(CaseSelectionError, match="no patient 'NOPE'"):
        open_export(export, cache=False, choices={"NOPE": ("1", "2")})


def test_missing_folder_is_a_one_line_error_and_makes_no_database(tmp_path):
    missing = tmp_path / "nowhere"
    with pytest.raises(SpondyError) as info:
        open_export(missing)
    assert isinstance(info.value, DicomIndexError)
    assert str(info.value) == f"{missing}: no such folder"
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(("fmt", "lines"), [("--csv", 1 + 12), ("--json", 3 + 12), ("", 1 + 12)])
def test_reopening_an_unchanged_export_loads_no_heavy_library(export, tmp_path, fmt, lines):
    """The CLI's re-open (``index``, ``--csv``, ``--json``) takes the table from the cache: no
    pandas, numpy or pydicom to import, so that it starts fast."""
    db = tmp_path / "project.sqlite"
    open_export(export, cache=db)
    args = ["index", str(export), "--cache", str(db), *([fmt] if fmt else [])]
    code = (
        "import sys\n"
        "from spondy_annotate.cli import main\n"
        f"assert main({args!r}) == 0\n"
        "print(sorted(m for m in ('pandas', 'numpy', 'pydicom') if m in sys.modules), "
        "file=sys.stderr)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stderr.strip() == "[]"
    out = done.stdout if fmt else done.stdout.split("\n\n")[0] + "\n"
    assert out.count("\n") == lines  # the header and 12 series (JSON: one series a line)
    if fmt == "--json":
        assert len(json.loads(done.stdout)["series"]) == 12
