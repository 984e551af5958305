"""The core runs headless: importing it never pulls in napari, Qt or magicgui."""

import subprocess
import sys
from pathlib import Path

_CORE = Path(__file__).parents[1] / "spondy_annotate"
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


def test_import_linter_contract():
    lint = Path(sys.executable).parent / "lint-imports"  # installed by the [test] extra
    out = subprocess.run([str(lint)], capture_output=True, text=True, cwd=Path(__file__).parents[1])
    assert out.returncode == 0, out.stdout + out.stderr


def test_python_m_entry_point():
    out = subprocess.run(
        [sys.executable, "-m", "spondy_annotate", "--help"], capture_output=True, text=True
    )
    assert out.returncode == 0 and "index" in out.stdout and "cases" in out.stdout
