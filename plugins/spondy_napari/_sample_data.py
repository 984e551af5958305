"""Sample data: a synthetic baseline/follow-up pair (a lumbar spine phantom, no patient data).

The export is generated once per user and version into the temporary folder by
:func:`spondy_annotate.synthetic.export.generate_export` and read like any folder.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

#: Size of the sample export (small enough to generate in about a second).
SAMPLE_OPTIONS: dict[str, Any] = {
    "patients": 1,
    "seed": 0,
    "rows": 192,
    "columns": 192,
    "slices": 13,
}


def sample_folder() -> Path:
    """The sample export's folder, generated on first use."""
    from spondy_annotate._version import __version__
    from spondy_annotate.synthetic.export import generate_export

    user = os.environ.get("USER") or os.environ.get("USERNAME") or "user"
    folder = Path(tempfile.gettempdir()) / f"spondy-annotate-sample-{__version__}-{user}"
    done = folder / ".complete"
    if not done.exists():
        if folder.exists():
            shutil.rmtree(folder)
        partial = folder.with_name(folder.name + f".{os.getpid()}.partial")
        shutil.rmtree(partial, ignore_errors=True)
        generate_export(partial, **SAMPLE_OPTIONS)
        (partial / ".complete").touch()
        try:
            partial.rename(folder)
        except OSError:  # another process got there first
            shutil.rmtree(partial, ignore_errors=True)
    return folder


def make_sample_data() -> list[tuple[Any, ...]]:
    """Layers of the synthetic pair: baseline and follow-up of each sagittal sequence."""
    from spondy_napari._reader import read_folder

    return read_folder(str(sample_folder()))
