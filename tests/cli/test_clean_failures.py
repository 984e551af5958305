"""Command lines that fail on the file system end in one line and exit status 1, never a traceback.

Each case is run as its own process, as a user runs it: a full disk (a file size limit, so that
every write beyond it fails), ``--out`` onto a file, ``open`` on a file or on a folder without
DICOM, and a read-only export whose user has an unwritable home folder.
"""

from __future__ import annotations

import ctypes
import os
import resource
import signal
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from spondy_annotate.synthetic.cohort import write_synthetic_cohort

PR_CAPBSET_DROP, CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH = 24, 1, 2  # <linux/prctl.h>, capability.h
CLI = [sys.executable, "-c", "import sys; from spondy_annotate.cli import main; sys.exit(main())"]


def run(
    *argv: str | Path,
    env: dict[str, str] | None = None,
    preexec: Callable[[], None] | None = None,
    cwd: Path | None = None,
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*CLI, *map(str, argv)],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "QT_QPA_PLATFORM": "offscreen", **(env or {})},
        preexec_fn=preexec,
        cwd=cwd,
    )


def assert_one_line_error(done: subprocess.CompletedProcess[str], *parts: str) -> None:
    assert done.returncode == 1, done.stderr
    assert "Traceback" not in done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("spondy-annotate: error: "), done.stderr
    for part in parts:
        assert part in lines[0]


@pytest.fixture(scope="module")
def cohort(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    return write_synthetic_cohort(tmp_path_factory.mktemp("cohort"), seed=0)


def analyze(
    cohort: tuple[Path, Path], out: Path, preexec: Callable[[], None] | None = None
) -> subprocess.CompletedProcess[str]:
    labs, grads = cohort
    args = ("analyze", "--gradings", grads, "--labs", labs, "--bootstrap", "0", "--out", out)
    return run(*args, preexec=preexec)


def small_file_limit() -> None:
    """A full disk, for this process: writes beyond 2,000 bytes per file fail (EFBIG)."""
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (2000, 2000))


@pytest.mark.slow
def test_analyze_onto_a_full_disk(cohort: tuple[Path, Path], tmp_path: Path) -> None:
    out = tmp_path / "report"
    done = analyze(cohort, out, preexec=small_file_limit)
    # the file that failed is named, and nothing half-written is left behind
    assert_one_line_error(done, f"{out}{os.sep}", ": cannot write the report (File too large)")
    failed = Path(done.stderr.split(": cannot write")[0].removeprefix("spondy-annotate: error: "))
    assert failed.parent in (out, out / "figures") and not failed.exists()
    assert not list(out.rglob(".*.tmp"))
    assert all(p.stat().st_size <= 2000 for p in out.rglob("*") if p.is_file())


@pytest.mark.parametrize("target", ["file", "/dev/full"])
def test_analyze_onto_a_file(cohort: tuple[Path, Path], tmp_path: Path, target: str) -> None:
    out = tmp_path / "results.txt" if target == "file" else Path(target)
    if target == "file":
        out.write_text("not a folder")
    elif not out.exists():
        pytest.skip("no /dev/full on this system")
    done = analyze(cohort, out)
    assert_one_line_error(done, f"{out}: is a file, not a folder (give the report folder)")


def test_open_a_file_says_it_is_not_a_folder(tmp_path: Path) -> None:
    file = tmp_path / "image.dcm"
    file.write_bytes(b"\0" * 200)
    assert_one_line_error(run("open", file), f"{file}: not a folder (give the export folder)")
    assert_one_line_error(run("open", tmp_path / "gone"), f"{tmp_path / 'gone'}: no such folder")


def test_open_a_folder_without_dicom_exits_1_before_any_window(tmp_path: Path) -> None:
    export = tmp_path / "export"
    export.mkdir()
    (export / "notes.txt").write_text("no images here")
    done = run("open", export)
    assert_one_line_error(done, f"{export}: no DICOM images found")
    assert not (tmp_path / "export.spondy.sqlite").exists()


# ------------------------------------------------------------------ read-only export, no home


def without_root_overrides() -> None:
    """As root: drop the capabilities that ignore file permissions from the bounding set, so that
    the command (executed next) meets a read-only folder as any user does."""
    if os.geteuid() != 0:
        return
    libc = ctypes.CDLL(None, use_errno=True)
    for capability in (CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH):
        if libc.prctl(PR_CAPBSET_DROP, capability, 0, 0, 0) != 0:
            raise OSError(ctypes.get_errno(), "prctl(PR_CAPBSET_DROP)")


@pytest.fixture
def read_only_world(tmp_path: Path) -> Iterator[tuple[Path, dict[str, str]]]:
    """An export in a read-only folder, and a home and data folder that cannot be written."""
    if sys.platform != "linux":
        pytest.skip("XDG_DATA_HOME and PR_CAPBSET_DROP are Linux")
    parent, home = tmp_path / "media", tmp_path / "home"
    export = parent / "export"
    export.mkdir(parents=True)
    home.mkdir()
    (export / "notes.txt").write_text("not an image")
    env = {"HOME": str(home), "XDG_DATA_HOME": str(home / ".local" / "share")}
    for folder in (parent, export, home):
        folder.chmod(0o555)
    try:
        yield export, env
    finally:
        for folder in (parent, export, home):
            folder.chmod(0o755)


@pytest.mark.parametrize("command", ["index", "cases", "open"])
def test_read_only_export_and_unwritable_home(
    read_only_world: tuple[Path, dict[str, str]], command: str
) -> None:
    export, env = read_only_world
    done = run(command, export, env=env, preexec=without_root_overrides, cwd=export)
    assert_one_line_error(
        done,
        f"{export}: no writable place for the project database: the folder {export.parent} is "
        "read-only and the data folder",
        "--no-cache",
    )
    if command != "open":  # index and cases can do without the cache
        args = (command, export, "--no-cache")
        done = run(*args, env=env, preexec=without_root_overrides, cwd=export)
        assert_one_line_error(done, "no DICOM images found")
