"""The napari reader: a DICOM folder (an export), a DICOMweb service URL or a single DICOM file as
image layers.

A thin adapter over the core, as napari-ome-zarr's: :func:`napari_get_reader` answers from at
most :data:`PROBE_FILES` file headers (132 bytes each), returns None at once for anything else
and never raises. A folder is opened with the core's
:func:`~spondy_annotate.cases.open.open_export` (through the project database's header cache,
so re-opening an unchanged export reads no header again), then only the **first case's
hanging-protocol series** are loaded (baseline and follow-up of each sequence, the first
sequence visible), never every series of the export; from a DICOMweb service those series are
retrieved (WADO-RS) into its cache folder first, in the loader threads. A folder without a
baseline/follow-up pair (one study, a single series) gives its first :data:`MAX_SERIES` regular
series. The reading room dock reads the other cases. Problems go to napari's notification area; the reader then returns
napari's "nothing to add" sentinel instead of raising.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from napari.utils.notifications import show_error, show_info, show_warning

from spondy_annotate.cases.open import OpenedExport, open_export
from spondy_annotate.cases.pairing import CaseStatus
from spondy_annotate.dicom.records import SeriesRecord
from spondy_annotate.dicom.volume import load_series
from spondy_annotate.dicomweb.auth import is_url
from spondy_annotate.errors import SpondyError
from spondy_napari.display.layer_data import (
    PreparedVolume,
    layer_kwargs,
    layer_metadata,
    layer_name,
    prepare,
)

logger = logging.getLogger(__name__)

#: Files looked at (header bytes only) before deciding a folder holds no DICOM.
PROBE_FILES = 64
#: Series loaded from a folder that holds no baseline/follow-up case.
MAX_SERIES = 8
#: Threads loading a folder's series.
LOAD_THREADS = 4

LayerData = tuple[Any, ...]
ReaderFunction = Callable[[str | list[str]], list[LayerData]]
#: What a reader returns when it handled the path but has nothing to add (npe2's sentinel).
NOTHING: list[LayerData] = [(None,)]


def _looks_like_dicom(path: str) -> bool:
    """True for a file with the DICM marker, or starting with a group 0002/0008 element."""
    try:
        with open(path, "rb") as fp:
            head = fp.read(132)
    except OSError:
        return False
    if head[128:132] == b"DICM":
        return True
    # Preamble-less files (some old exports) start with a little-endian (0008,xxxx) element.
    return len(head) >= 8 and head[:2] in (b"\x08\x00", b"\x02\x00") and head[3] == 0


def _walk_files(root: str, limit: int) -> Iterator[str]:
    """Up to ``limit`` regular files below ``root``, shallowest first, never following links."""
    folders, seen = [root], 0
    while folders and seen < limit:
        folder = folders.pop(0)
        try:
            entries = sorted(os.scandir(folder), key=lambda e: e.name)
            kinds = [(e.path, e.is_dir(follow_symlinks=False), e.is_file()) for e in entries]
        except OSError:
            continue
        for path, is_dir, is_file in kinds:
            if is_dir:
                folders.append(path)
            elif is_file:
                seen += 1
                yield path
                if seen >= limit:
                    return


def folder_has_dicom(path: str | os.PathLike[str], *, limit: int = PROBE_FILES) -> bool:
    """True when one of the first ``limit`` files below ``path`` looks like DICOM."""
    for file in _walk_files(os.fspath(path), limit):
        if os.path.basename(file).upper() == "DICOMDIR" or _looks_like_dicom(file):
            return True
    return False


def napari_get_reader(path: str | list[str]) -> ReaderFunction | None:
    """Return a reader for a DICOM folder or file or a DICOMweb URL, or None (fast, never raises)."""
    if isinstance(path, list | tuple):
        if len(path) != 1:
            return None
        path = path[0]
    if is_url(path):
        return read_dicom
    try:
        path = os.fspath(path)
        if os.path.isdir(path):
            return read_dicom if folder_has_dicom(path) else None
        if os.path.isfile(path) and (
            os.path.basename(path).upper() == "DICOMDIR" or _looks_like_dicom(path)
        ):
            return read_dicom
    except (OSError, TypeError, ValueError):
        return None
    return None


def read_dicom(path: str | list[str]) -> list[LayerData]:
    """Read a DICOM folder or file, or a DICOMweb service, into layer data; problems go to
    napari's notifications."""
    if isinstance(path, list | tuple):
        path = path[0]
    path = os.fspath(path)
    try:
        if is_url(path) or os.path.isdir(path):
            return read_folder(path)
        if os.path.basename(path).upper() == "DICOMDIR":
            return read_folder(os.path.dirname(path) or ".")
        return read_file(path)
    except SpondyError as exc:
        show_error(str(exc))
    except Exception as exc:  # a reader must not raise into napari's open dialog
        logger.exception("reading %s failed", path)
        show_error(f"{path}: could not be read ({type(exc).__name__}: {exc})")
    return NOTHING


def read_file(path: str) -> list[LayerData]:
    """One file as one layer (an Enhanced MR file holds a whole series)."""
    prepared = prepare(load_series([path]))
    description = prepared.volume.metadata.get("series_description") or Path(path).name
    meta = layer_metadata(prepared, side="", date_text="", label=str(description))
    return [_layer(prepared, str(description), meta)]


def _layer(
    prepared: PreparedVolume, name: str, metadata: dict[str, Any], visible: bool = True
) -> LayerData:
    kwargs = layer_kwargs(prepared, name=name, metadata=metadata)
    kwargs["visible"] = visible
    return prepared.data, kwargs, "image"


def read_folder(path: str) -> list[LayerData]:
    """The first case's hanging-protocol series (or the first series when there is no case)."""
    opened = open_export(path)
    cases = opened.cases
    ready = [c for c in cases if c.status is CaseStatus.READY and c.pairs]
    if not ready:
        return _read_series(opened, opened.index.records)
    case = ready[0]
    assert case.baseline is not None and case.followup is not None
    jobs = []
    for n, pair in enumerate(case.pairs):
        for side, ref, study in (
            ("baseline", pair.baseline, case.baseline),
            ("followup", pair.followup, case.followup),
        ):
            if ref is not None:
                jobs.append((n, pair.label, side, ref, study.date_text))
    loaded = _load_all(opened, [job[3] for job in jobs])
    layers = []
    for (n, label, side, _ref, date), prepared in zip(jobs, loaded, strict=True):
        if prepared is None:
            continue
        meta = layer_metadata(prepared, side=side, date_text=date, label=label, case="Case 1")
        layers.append(_layer(prepared, layer_name(side, date, label), meta, visible=n == 0))
    if len(cases) > 1:
        show_info(
            f"{len(cases)} patients in {opened.name}: the first case is shown. "
            "Plugins > spondy-annotate > Reading room reads them side by side."
        )
    return layers or NOTHING


def _read_series(opened: OpenedExport, series: Sequence[SeriesRecord]) -> list[LayerData]:
    records = [r for r in series if r.volumes >= 1]
    unusable = len(series) - len(records)
    if not records:
        note = series[0].note if series else ""
        show_warning(f"No series here forms a volume{': ' + note if note else ''}")
        return NOTHING
    if len(records) > MAX_SERIES or unusable:
        show_warning(
            f"{len(series)} series: showing the first {min(len(records), MAX_SERIES)}"
            + (f"; {unusable} do not form a volume" if unusable else "")
        )
    records = records[:MAX_SERIES]
    loaded = _load_all(opened, records, stacks=[0 if r.volumes > 1 else None for r in records])
    layers = []
    for n, (record, prepared) in enumerate(zip(records, loaded, strict=True)):
        if prepared is None:
            continue
        name = record.series_description or f"series {record.series_number}"
        if record.volumes > 1:
            name += f" (volume 1 of {record.volumes})"
        meta = layer_metadata(prepared, side="", date_text=record.study_date, label=name)
        layers.append(_layer(prepared, name, meta, visible=n == 0))
    return layers or NOTHING


def _load_all(
    opened: OpenedExport, records: Sequence[SeriesRecord], stacks: list[int | None] | None = None
) -> list[PreparedVolume | None]:
    """Load several series of ``opened`` in parallel; a failure is notified and gives None."""

    def load(args: tuple[SeriesRecord, int | None]) -> PreparedVolume | str:
        record, stack = args
        try:
            return prepare(load_series(opened.files(record), stack=stack))
        except SpondyError as exc:
            return str(exc)

    stacks = stacks or [None] * len(records)
    with ThreadPoolExecutor(max_workers=LOAD_THREADS) as pool:
        results = list(pool.map(load, zip(records, stacks, strict=True)))
    for result in results:  # notified from the calling thread, not the pool's
        if isinstance(result, str):
            show_error(result)
    return [r if isinstance(r, PreparedVolume) else None for r in results]
