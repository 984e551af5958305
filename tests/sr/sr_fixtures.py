"""Helpers of the SR tests: a graded project database, the SR commands, and dciodvfy."""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
from collections.abc import Sequence
from pathlib import Path

import pandas as pd
import pytest
from pydicom import dcmread
from pydicom.dataset import Dataset

from spondy_annotate.cases.open import open_export
from spondy_annotate.cli import sr_cmd, sr_import_cmd
from spondy_annotate.grading.export import gradings_table
from spondy_annotate.grading.rubric import Measurement
from spondy_annotate.grading.session import GradingSession

#: Reader A grades every case completely (lines drawn, notes with non-Latin-1 text); reader
#: "Dr. B^Second" grades the first case partly, with a typed-in disc height.
NOTE = "Überprüfen ≤ half — ✓"


def export_images(export: Path) -> list[tuple[Path, Dataset]]:
    """Every image file of ``export`` (the synthetic one names files without an extension) with
    its header."""
    out = []
    for path in sorted(p for p in export.rglob("*") if p.is_file()):
        try:
            ds = dcmread(path, stop_before_pixels=True)
        except Exception:  # the export's junk files: not DICOM, truncated
            continue
        if "Rows" in ds:
            out.append((path, ds))
    return out


def grade(db: Path, export: Path) -> None:
    """Register the export's cases in ``db`` and record both readers' answers."""
    opened = open_export(export, cache=db)
    with GradingSession.open(db, reader="A") as session:
        for n, case in enumerate(opened.cases):
            case_id = session.register(case)
            assert case_id is not None
            answers: dict[str, object] = {
                "level": ("L4-L5", "L5-S1", "T12-L1")[n],
                "marrow_edema.baseline": 3,
                "marrow_edema.followup": 2 - n % 2,
                "marrow_edema.change": "improved",
                "paravertebral_inflammation.baseline": 1,
                "paravertebral_inflammation.followup": 1,
                "paravertebral_inflammation.change": "unchanged",
                "disc_height.baseline_mm": Measurement.from_points(
                    (0.25, -10.5 + n, 3.0), (0.25, -2.125, 4.5)
                ),
                "disc_height.baseline": 1,
                "disc_height.followup_mm": Measurement.from_points(
                    (0.5, -9.75, 2.0), (0.5, -4.0, 3.25 + n)
                ),
                "disc_height.followup": 2,
                "disc_height.change": "aggravated",
                "confidence": ("confident", "uncertain", "confident")[n],
                "note": NOTE if n == 0 else None,
            }
            for key, value in answers.items():
                session.record(case_id, key, value)
            session.record(case_id, "marrow_edema.change", "unchanged")  # a change of mind
    with GradingSession.open(db, reader="Dr. B^Second") as session:
        case_id = session.register(opened.cases[0])
        assert case_id is not None
        session.record(case_id, "level", "L4-L5")
        session.record(case_id, "marrow_edema.baseline", 0)
        session.record(case_id, "disc_height.followup_mm", 7.25)


def run_command(argv: Sequence[str]) -> int:
    """Run ``sr`` or ``sr-import`` as the command line does (parser, then ``run``)."""
    parser = argparse.ArgumentParser(prog="spondy-annotate")
    sub = parser.add_subparsers()
    for module in (sr_cmd, sr_import_cmd):
        module.add_parser(sub).set_defaults(run=module.run)
    args = parser.parse_args(list(argv))
    return int(args.run(args))


def comparable(db: Path) -> pd.DataFrame:
    """The gradings table with identifiers, without what a new database makes anew: the case
    pseudonyms (keyed with the database's own secret) and the answer times."""
    table = gradings_table(db, include_identifiers=True).drop(columns=["case_id", "answered_at"])
    keys = ["patient_id", "reader", "rubric_name", "item"]
    return table.sort_values(keys).reset_index(drop=True)


def dciodvfy_errors(path: Path) -> list[str]:
    """The error lines dciodvfy reports on ``path`` (skips outside CI when it is missing)."""
    binary = shutil.which("dciodvfy")
    if binary is None:
        if os.environ.get("CI"):
            pytest.fail("dciodvfy is not installed (Debian package dicom3tools)")
        pytest.skip("dciodvfy is not installed (run scripts/install-system-packages.sh as root)")
    result = subprocess.run([binary, str(path)], capture_output=True, text=True, check=False)
    lines = (result.stdout + result.stderr).splitlines()
    return [line for line in lines if line.startswith("Error")]


def dciodvfy_warnings(path: Path) -> set[str]:
    """The distinct warning lines dciodvfy reports on ``path``."""
    binary = shutil.which("dciodvfy")
    assert binary is not None
    result = subprocess.run([binary, str(path)], capture_output=True, text=True, check=False)
    return {
        line for line in (result.stdout + result.stderr).splitlines() if line.startswith("Warning")
    }
