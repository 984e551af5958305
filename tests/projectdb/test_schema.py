"""Opening the project database: damaged, empty and special files are refused, never re-created;
concurrent creation is safe; a read-only folder is named as the reason."""

from __future__ import annotations

import multiprocessing
import os
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from guards import deadline

from spondy_annotate.errors import StoreError
from spondy_annotate.grading.rubric_toml import default_rubric
from spondy_annotate.grading.store import Store
from spondy_annotate.projectdb.schema import SCHEMA_VERSION, connect


def made(path: Path, answers: int = 40) -> Path:
    """A project database with some gradings in it (several pages)."""
    with Store(path) as store:
        case = store.register_case("P1", "1.2.3", "20240101", "1.2.4", "20240601")
        session = store.start_session("R1", rubric=default_rubric())
        for i in range(answers):
            store.record_answer(session, case, "note", f"note {i} " * 40)
    return path


@pytest.fixture
def db(tmp_path: Path) -> Path:
    return made(tmp_path / "p.sqlite")


def test_truncated_by_one_byte_is_refused_at_open(db: Path) -> None:
    size = db.stat().st_size
    os.truncate(db, size - 1)
    with pytest.raises(StoreError, match=rf"the database is damaged: {size - 1} bytes is not"):
        connect(db)
    assert db.stat().st_size == size - 1  # left as it was


def test_truncated_by_whole_pages_is_refused_at_open(db: Path) -> None:
    page = sqlite3.connect(db).execute("PRAGMA page_size").fetchone()[0]
    os.truncate(db, db.stat().st_size - page)
    with pytest.raises(StoreError, match="the database is damaged"):
        Store(db)


@pytest.mark.parametrize("content", [b"", b"\x00", b"S"])
def test_empty_or_one_byte_file_is_refused_not_recreated(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "p.sqlite"
    path.write_bytes(content)
    with pytest.raises(
        StoreError, match=rf"not an SQLite file, {len(content)} bytes\).*left as it is"
    ):
        connect(path)
    assert path.read_bytes() == content


def test_fifo_is_refused_without_blocking(tmp_path: Path) -> None:
    path = tmp_path / "fifo.sqlite"
    os.mkfifo(path)
    with deadline(10), pytest.raises(StoreError, match="not a regular file"):
        connect(path)


def _open_at_once(barrier, paths: list[str], results) -> None:  # a child process
    for path in paths:
        barrier.wait()
        try:
            connect(path).close()
            results.put("ok")
        except StoreError as exc:
            results.put(str(exc))


def test_two_processes_creating_one_database_both_succeed(tmp_path: Path) -> None:
    rounds = 60
    paths = [str(tmp_path / f"new{i}.sqlite") for i in range(rounds)]
    ctx = multiprocessing.get_context("fork")
    barrier, results = ctx.Barrier(2), ctx.Queue()
    workers = [ctx.Process(target=_open_at_once, args=(barrier, paths, results)) for _ in range(2)]
    for w in workers:
        w.start()
    outcomes = [results.get(timeout=120) for _ in range(2 * rounds)]
    for w in workers:
        w.join(timeout=30)
    assert [o for o in outcomes if o != "ok"] == []
    for path in paths:
        conn = sqlite3.connect(path)
        assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
        conn.close()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temporary left


OPEN_SCRIPT = """
import sys
from spondy_annotate.errors import StoreError
from spondy_annotate.projectdb.schema import connect
try:
    connect(sys.argv[1]).close()
except StoreError as exc:
    print(exc)
"""


def test_read_only_folder_is_named_as_the_reason(tmp_path: Path) -> None:
    """Run without privileges (root writes anywhere): the open fails and says why."""
    folder = tmp_path / "ro"
    folder.mkdir()
    path = made(folder / "p.sqlite", answers=3)
    folder.chmod(0o555)
    command = [sys.executable, "-c", OPEN_SCRIPT, str(path)]
    if os.geteuid() == 0:
        if not shutil.which("setpriv"):
            pytest.skip("running as root without setpriv to drop the privileges")
        drop = ["--inh-caps=-all", "--ambient-caps=-all", "--bounding-set=-all"]
        command = ["setpriv", *drop, "--", *command]
    try:
        out = subprocess.run(command, capture_output=True, text=True, timeout=60)
    finally:
        folder.chmod(0o755)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == (
        f"{path}: the folder {folder} is read-only, and the database writes its journal "
        "(p.sqlite-wal, p.sqlite-shm) beside it: copy the database to a writable folder"
    )
