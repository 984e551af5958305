"""The core runs headless: importing it never pulls in napari, Qt or magicgui."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[1]

_CORE = ROOT / "spondy_annotate"
CORE_MODULES = sorted(
    ".".join(p.relative_to(_CORE).with_suffix("").parts).removesuffix(".__init__")
    for p in _CORE.rglob("*.py")
    if p.name != "__main__.py"
)
FORBIDDEN = ("napari", "qtpy", "magicgui", "superqt", "PyQt5", "PyQt6", "PySide2", "PySide6")


def test_core_imports_no_gui_modules():
    imports = "; ".join(f"import spondy_annotate.{m}" for m in CORE_MODULES)
    code = (
        f"import sys, spondy_annotate.cli; {imports}; spondy_annotate.cli.build_parser(); "
        f"print(sorted(m for m in sys.modules if m.split('.')[0] in {FORBIDDEN!r}))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def _lint_imports(root: Path) -> subprocess.CompletedProcess[str]:
    lint = Path(sys.executable).parent / "lint-imports"  # installed by the [test] extra
    env = {**os.environ, "PYTHONPATH": f"{root}{os.pathsep}{root / 'plugins'}"}
    return subprocess.run([str(lint)], capture_output=True, text=True, cwd=root, env=env)


def test_import_linter_contracts():
    out = _lint_imports(ROOT)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "Contracts: 4 kept, 0 broken." in out.stdout


def test_import_linter_refuses_a_core_module_that_opens_the_viewer(tmp_path):
    """The contract has teeth: bring back the old ``cli/open_cmd.py`` import and it fails."""
    for part in ("spondy_annotate", "plugins", "pyproject.toml"):
        copy = shutil.copytree if (ROOT / part).is_dir() else shutil.copy
        copy(ROOT / part, tmp_path / part)
    (tmp_path / "spondy_annotate" / "cli" / "open_cmd.py").write_text(
        "from spondy_napari._app import open_reading_room\n"
    )
    out = _lint_imports(tmp_path)
    assert out.returncode == 1, out.stdout
    assert "spondy_annotate is not allowed to import spondy_napari" in out.stdout
    assert "spondy_annotate.cli.open_cmd -> spondy_napari._app" in out.stdout


@pytest.mark.slow
def test_type_checker_passes_on_the_core():
    out = subprocess.run([sys.executable, "-m", "mypy"], capture_output=True, text=True, cwd=ROOT)
    assert out.returncode == 0, out.stdout[-3000:]
    assert "Success: no issues found" in out.stdout


def test_python_m_entry_point():
    out = subprocess.run(
        [sys.executable, "-m", "spondy_annotate", "--help"], capture_output=True, text=True
    )
    assert out.returncode == 0 and "index" in out.stdout and "cases" in out.stdout
