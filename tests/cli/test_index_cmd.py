"""``spondy-annotate index``: what the command loads to index an export (nothing timed)."""

from __future__ import annotations

import json
import subprocess
import sys

#: Modules the index command has no use for: numpy and pandas (the index plans stacks in plain
#: Python and tabulates with dicts), and the other subcommands.
UNUSED = ("numpy", "pandas", "spondy_annotate.cli.study_cmd", "spondy_annotate.cli.analyze_cmd")

SCRIPT = f"""
import sys
from spondy_annotate.cli import main
status = main(sys.argv[1:])
print(sorted(m for m in sys.modules if m in {UNUSED!r}), file=sys.stderr)
sys.exit(status)
"""


def index(*argv: str) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-c", SCRIPT, "index", *argv]
    return subprocess.run(command, capture_output=True, text=True, check=True)


def test_index_loads_neither_numpy_pandas_nor_other_commands(small_export, tmp_path):
    cache = str(tmp_path / "project.sqlite")
    for run in ("fresh", "unchanged"):
        out = index("--json", str(small_export), "--cache", cache)
        assert len(json.loads(out.stdout)["series"]) == 18, run
        assert out.stderr.splitlines()[-1] == "[]", run


def test_index_help_without_the_other_commands():
    out = index("--help")
    assert out.stdout.startswith("usage: spondy-annotate index")
    assert "--json" in out.stdout and "--no-cache" in out.stdout
