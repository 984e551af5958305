"""The README's Python API example runs as written (on a copy of the sample export)."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[1]


def python_api_example() -> str:
    text = (ROOT / "README.md").read_text()
    section = text[text.index("## Python API") :]
    return re.search(r"```python\n(.*?)```", section, re.S).group(1)


def test_python_api_example_runs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    shutil.copytree(ROOT / "sample_dicoms", tmp_path / "sample_dicoms")
    monkeypatch.chdir(tmp_path)
    code = python_api_example()
    grading_part = code[: code.index("run = run_analysis")]  # the sample has no lab file
    namespace: dict[str, object] = {}
    exec(compile(grading_part, "README.md", "exec"), namespace)  # noqa: S102
    assert namespace["export"].db_path == tmp_path / "sample_dicoms.spondy.sqlite"
    assert re.fullmatch(r"C-[0-9A-F]{6,}", namespace["case_id"])

    from spondy_annotate import Store

    with Store(tmp_path / "sample_dicoms.spondy.sqlite") as store:
        answers = store.history(case_id=namespace["case_id"], reader="reader_a")
    assert [(a.item, a.field, a.value) for a in answers] == [("marrow_edema", "baseline", 2)]
