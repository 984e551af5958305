"""spondy_annotate: grade baseline/follow-up spine MRI and correlate the change with lab values.

The core runs headless (no napari or Qt); the napari front end lives in ``spondy_napari``.

Examples
--------
>>> from spondy_annotate import index_folder, find_cases, load_series
>>> index = index_folder("sample_dicoms")                     # doctest: +SKIP
>>> cases = find_cases(index.series)                          # doctest: +SKIP
>>> volume = load_series(cases[0].pairs[0].baseline.files)    # doctest: +SKIP
>>> volume.array.shape, volume.spacing                        # doctest: +SKIP
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from spondy_annotate._version import __version__

logging.getLogger(__name__).addHandler(logging.NullHandler())

_LAZY = {
    "index_folder": "spondy_annotate.dicom.index",
    "IndexResult": "spondy_annotate.dicom.index",
    "SkippedFile": "spondy_annotate.dicom.index",
    "find_cases": "spondy_annotate.cases.pairing",
    "Case": "spondy_annotate.cases.pairing",
    "load_series": "spondy_annotate.dicom.volume",
    "Volume": "spondy_annotate.dicom.volume",
}

if TYPE_CHECKING:
    from spondy_annotate.cases.pairing import Case, find_cases
    from spondy_annotate.dicom.index import IndexResult, SkippedFile, index_folder
    from spondy_annotate.dicom.volume import Volume, load_series

__all__ = [
    "Case",
    "IndexResult",
    "SkippedFile",
    "Volume",
    "__version__",
    "find_cases",
    "index_folder",
    "load_series",
]


def __getattr__(name: str) -> Any:
    """Import the public API on first use, so that ``import spondy_annotate`` stays cheap."""
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
