"""The benchmark script runs end to end (on a tiny export; timings are not asserted)."""

import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).parents[1] / "benchmarks" / "run_benchmarks.py"


@pytest.mark.slow
def test_benchmark_script_runs(tmp_path):
    out = subprocess.run(
        [
            sys.executable,
            str(SCRIPT),
            "--patients",
            "1",
            "--size",
            "32",
            "--slices",
            "4",
            "--repeat",
            "1",
            "--skip-viewer",
            "--work",
            str(tmp_path),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert out.returncode == 0, out.stderr[-2000:]
    for line in (
        "spondy_annotate index --json (fresh)",
        "SimpleITK GDCM series scan",
        "spondy_annotate index --json (unchanged)",
        "open_export(folder) (unchanged",
        "plain pydicom dcmread",
        "spondy_annotate load_series",
        "same voxels as SimpleITK: True",
    ):
        assert line in out.stdout
