"""spondy_annotate: grade baseline/follow-up spine MRI and correlate the change with lab values.

The core runs headless (no napari or Qt); the napari front end lives in ``spondy_napari``.
Each workflow exists once, here, and both the command line and the viewer call it:

* :func:`open_export` — index a DICOM export through the project database's header cache and
  pair each patient's baseline and follow-up (:func:`index_folder` and :func:`find_cases` are its
  two steps);
* :func:`load_series` — one series as a :class:`Volume`;
* :class:`GradingSession` — one reader grading into the project database (:class:`Store`);
* :func:`run_analysis` — the lab correlation analysis and its report.

Examples
--------
>>> from spondy_annotate import open_export, load_series
>>> export = open_export("sample_dicoms")                          # doctest: +SKIP
>>> case = export.cases[0]                                         # doctest: +SKIP
>>> volume = load_series(case.pairs[0].baseline.files)             # doctest: +SKIP
>>> volume.array.shape, volume.spacing                             # doctest: +SKIP
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
    "SeriesRecord": "spondy_annotate.dicom.records",
    "load_series": "spondy_annotate.dicom.volume",
    "Volume": "spondy_annotate.dicom.volume",
    "find_cases": "spondy_annotate.cases.pairing",
    "Case": "spondy_annotate.cases.pairing",
    "open_export": "spondy_annotate.cases.open",
    "OpenedExport": "spondy_annotate.cases.open",
    "Store": "spondy_annotate.grading.store",
    "GradingSession": "spondy_annotate.grading.session",
    "run_analysis": "spondy_annotate.analysis.pipeline",
    "AnalysisRun": "spondy_annotate.analysis.pipeline",
}

if TYPE_CHECKING:
    from spondy_annotate.analysis.pipeline import AnalysisRun, run_analysis
    from spondy_annotate.cases.open import OpenedExport, open_export
    from spondy_annotate.cases.pairing import Case, find_cases
    from spondy_annotate.dicom.index import IndexResult, SkippedFile, index_folder
    from spondy_annotate.dicom.records import SeriesRecord
    from spondy_annotate.dicom.volume import Volume, load_series
    from spondy_annotate.grading.session import GradingSession
    from spondy_annotate.grading.store import Store

__all__ = [
    "AnalysisRun",
    "Case",
    "GradingSession",
    "IndexResult",
    "OpenedExport",
    "SeriesRecord",
    "SkippedFile",
    "Store",
    "Volume",
    "__version__",
    "find_cases",
    "index_folder",
    "load_series",
    "open_export",
    "run_analysis",
]


def __getattr__(name: str) -> Any:
    """Import the public API on first use, so that ``import spondy_annotate`` stays cheap."""
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
