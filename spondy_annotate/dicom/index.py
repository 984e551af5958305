"""Indexing a DICOM export: one row per series, from headers only.

A real export comes with any file names, nested folders, a DICOMDIR, non-DICOM junk and now and
then a truncated file. :func:`index_folder` walks it all, reads headers only (never pixels),
reports every file it skips with a one-line reason and never stops on one.

Headers are read in worker processes, one per core, when there are many to read
(:data:`PARALLEL_MIN_FILES`), in this process otherwise; the result is the same either way. An
unchanged export is not read at all: its table comes from the index cache
(:mod:`~spondy_annotate.dicom.index_cache`). A script that indexes from a thread other than the
main one must guard its entry point (``if __name__ == "__main__":``), as for any use of
:mod:`multiprocessing`: the workers are then started without ``fork``.
"""

from __future__ import annotations

import errno
import logging
import os
import sys
from collections import defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, fields
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

from spondy_annotate._version import __version__
from spondy_annotate.dicom.index_cache import IndexCache, snapshot_digest
from spondy_annotate.dicom.records import HeaderRecord, SeriesRecord, orientation_label
from spondy_annotate.dicom.rules import MatchingRules, load_rules
from spondy_annotate.dicom.sequence import classify_sequence
from spondy_annotate.errors import DicomIndexError, SeriesGeometryError

if TYPE_CHECKING:  # numpy, pydicom and pandas load only when headers are read or tabulated,
    from multiprocessing.context import BaseContext  # so that re-opening an unchanged export

    import pandas as pd  # starts fast

logger = logging.getLogger(__name__)

#: Columns of :attr:`IndexResult.series`, in order (documented in the README): the fields of
#: :class:`~spondy_annotate.dicom.records.SeriesRecord`.
SERIES_COLUMNS = tuple(f.name for f in fields(SeriesRecord))

ProgressCallback = Callable[[int, int], None]


@dataclass(frozen=True)
class SkippedFile:
    """A file the index passed over, and why (one line)."""

    path: str
    reason: str


@dataclass(frozen=True)
class IndexResult:
    """What :func:`index_folder` found.

    Attributes
    ----------
    root : Path
        The folder that was indexed.
    rows : tuple of dict
        One dict per series, keys :data:`SERIES_COLUMNS` (JSON-ready: what the cache keeps and
        ``index --json`` prints).
    skipped : list of SkippedFile
        Every file that is not part of a series, with its reason.
    headers_read : int
        How many files' headers were read from disk; the others came from the index cache
        (0 when the export was unchanged since the last scan).
    """

    root: Path
    rows: tuple[dict[str, Any], ...]
    skipped: list[SkippedFile] = field(default_factory=list)
    headers_read: int = 0

    @cached_property
    def indexed_files(self) -> frozenset[str]:
        """The paths of every file that is part of a series."""
        return frozenset(f for row in self.rows for f in row["files"])

    @cached_property
    def records(self) -> tuple[SeriesRecord, ...]:
        """The series as typed records, in the order of :attr:`rows`."""
        return tuple(SeriesRecord.from_row(row) for row in self.rows)

    @cached_property
    def series(self) -> pd.DataFrame:
        """The series table: one row per series, columns :data:`SERIES_COLUMNS`."""
        import pandas as pd

        return pd.DataFrame(list(self.rows), columns=list(SERIES_COLUMNS))


def scan_files(root: Path, skipped: list[SkippedFile]) -> dict[str, tuple[int, int]]:
    """Every regular file below ``root`` with its (size, mtime_ns).

    Symlinked folders are not followed (no loops); broken links, link loops, unreadable
    folders and what is not a regular file (FIFOs, sockets, devices: never opened) are reported
    in ``skipped``.
    """
    found: dict[str, tuple[int, int]] = {}
    stack = [os.fspath(root)]
    while stack:
        folder = stack.pop()
        try:
            with os.scandir(folder) as it:
                entries = sorted(it, key=lambda e: e.name)
        except OSError as exc:
            skipped.append(SkippedFile(folder, f"folder unreadable ({exc.strerror})"))
            continue
        for entry in reversed(entries):
            try:
                if entry.is_dir(follow_symlinks=False):
                    stack.append(entry.path)
                    continue
                st = entry.stat()
            except OSError as exc:
                reason = exc.strerror
                if entry.is_symlink():
                    loop = exc.errno == errno.ELOOP
                    reason = "symbolic link loop" if loop else "broken symbolic link"
                skipped.append(SkippedFile(entry.path, str(reason)))
                continue
            if entry.is_symlink() and os.path.isdir(entry.path):
                skipped.append(SkippedFile(entry.path, "symbolic link to a folder (not followed)"))
            elif entry.is_file():
                found[entry.path] = (st.st_size, st.st_mtime_ns)
            else:
                from spondy_annotate.dicom.headers import file_kind

                kind = file_kind(st.st_mode)
                skipped.append(SkippedFile(entry.path, f"not a regular file ({kind})"))
    return dict(sorted(found.items()))


#: Below this many headers to read, they are read in this process: starting worker processes
#: (about 0.05 s with fork, 0.2 s with forkserver or spawn) would cost more than they save at
#: about 0.1 ms per file.
PARALLEL_MIN_FILES = 2000
#: Files per task sent to a worker: large enough that sending it costs little, small enough
#: that the workers finish together and progress moves.
CHUNK_FILES = 250


def _read_one(path: str) -> HeaderRecord | SkippedFile:
    from spondy_annotate.dicom.headers import NotAnImage, read_header

    try:
        return read_header(path)
    except NotAnImage as exc:
        return SkippedFile(path, str(exc))


def _read_chunk(paths: list[str]) -> list[HeaderRecord | SkippedFile]:
    return [_read_one(path) for path in paths]


def _quiet_worker() -> None:
    """Silence pydicom in a worker: the index reports every file it skips, with its reason."""
    import warnings

    warnings.filterwarnings("ignore", module="pydicom")
    logging.getLogger("pydicom").addFilter(lambda record: record.levelno >= logging.ERROR)


def usable_cores() -> int:
    """The CPU cores this process may run on."""
    if hasattr(os, "process_cpu_count"):  # Python 3.13
        return os.process_cpu_count() or 1
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def _process_context() -> BaseContext:
    """fork where it is safe (Linux, one thread: the command line), else forkserver or spawn
    (a viewer reads headers in a worker thread, and forking a threaded process can deadlock)."""
    import multiprocessing
    import threading

    methods = multiprocessing.get_all_start_methods()
    if sys.platform.startswith("linux") and threading.active_count() == 1:
        return multiprocessing.get_context("fork")
    return multiprocessing.get_context("forkserver" if "forkserver" in methods else "spawn")


def iter_headers(
    paths: list[str], *, workers: int | None = None
) -> Iterator[list[HeaderRecord | SkippedFile]]:
    """Read the headers of ``paths``: batches of records, or of reasons to skip a file, in the
    order of ``paths``.

    Parameters
    ----------
    paths : list of str
        The files to read.
    workers : int, optional
        Processes to read in. Default: one per usable core (:func:`usable_cores`) from
        :data:`PARALLEL_MIN_FILES` files on, else this process alone (as with 1).

    The result does not depend on ``workers``: each file is read on its own, and the batches
    come in the order of ``paths``, as they are read (the caller stores one batch while the
    workers read the next).
    """
    total = len(paths)
    if workers is None:
        workers = usable_cores() if total >= PARALLEL_MIN_FILES else 1
    workers = min(workers, 61, total)  # 61: the most ProcessPoolExecutor takes on Windows
    if workers < 2:
        for start in range(0, total, 100):
            yield _read_chunk(paths[start : start + 100])
        return
    from concurrent.futures import ProcessPoolExecutor

    size = min(CHUNK_FILES, -(-total // (4 * workers)))  # at least 4 tasks per worker
    chunks = [paths[i : i + size] for i in range(0, total, size)]
    logger.info("reading %d headers in %d worker processes", total, workers)
    pool = ProcessPoolExecutor(workers, _process_context(), initializer=_quiet_worker)
    try:
        yield from pool.map(_read_chunk, chunks)
    finally:  # also when the caller stops early: the chunks not started are dropped
        pool.shutdown(cancel_futures=True)


def _series_row(
    records: list[HeaderRecord], rules: MatchingRules, sequences: dict[tuple[Any, ...], str]
) -> dict[str, Any]:
    """The series table row of one series' records; ``sequences`` keeps the sequence names
    already found for the same description and parameters (an export repeats its protocol)."""
    from spondy_annotate.dicom.stacks import plan_stacks

    first = min(records, key=lambda r: (r.instance_number or 0, r.path))
    frames = [f for r in records for f in r.frames]
    note, spacing, volumes = "", None, 0
    colour = next((r.colour for r in records if r.colour), "")
    if any("MOSAIC" in t.upper().split("\\") for t in {r.image_type for r in records}):
        note = "Siemens mosaic (slices tiled in one image): not loadable as a volume"
    elif colour:
        note = f"colour images ({colour}): not loadable as a grey volume"
    else:
        try:
            stacks = plan_stacks(frames)
            volumes = len(stacks)
            spacing = stacks[0].spacing
            if volumes > 1:
                note = f"{volumes} volumes: " + "; ".join(s.label for s in stacks[:4])
                note += " ..." if volumes > 4 else ""
        except SeriesGeometryError as exc:
            note = str(exc)
    known = next((f for f in frames if not f.assumed), None)
    orientation = orientation_label(known.orientation) if known else "unknown"
    sequence = ""
    if first.modality == "MR":
        key = (
            first.series_description,
            first.scanning_sequence,
            first.repetition_time,
            first.echo_time,
            first.inversion_time,
            first.contrast_agent,
        )
        if key not in sequences:
            sequences[key] = classify_sequence(
                rules.sequence,
                description=first.series_description,
                scanning_sequence=first.scanning_sequence,
                repetition_time=first.repetition_time,
                echo_time=first.echo_time,
                inversion_time=first.inversion_time,
                contrast_agent=first.contrast_agent,
            ).value
        sequence = sequences[key]
    return {
        "patient_id": first.patient_id,
        "study_instance_uid": first.study_instance_uid,
        "study_date": first.study_date,
        "study_time": first.study_time,
        "study_description": first.study_description,
        "series_instance_uid": first.series_instance_uid,
        "series_number": first.series_number,
        "series_description": first.series_description,
        "modality": first.modality,
        "orientation": orientation,
        "sequence": sequence,
        "scanning_sequence": first.scanning_sequence,
        "sequence_variant": first.sequence_variant,
        "repetition_time": first.repetition_time,
        "echo_time": first.echo_time,
        "inversion_time": first.inversion_time,
        "contrast_agent": first.contrast_agent,
        "num_images": sum(max(r.number_of_frames, 1) for r in records),
        "rows": first.rows,
        "columns": first.columns,
        "pixel_spacing": list(first.pixel_spacing) if first.pixel_spacing else None,
        "slice_spacing": None if spacing is None else round(spacing, 4),
        "slice_thickness": first.slice_thickness,
        "volumes": volumes,
        "note": note,
        "transfer_syntaxes": sorted({r.transfer_syntax for r in records}),
        "files": sorted(r.path for r in records),
    }


def series_rows(records: list[HeaderRecord], rules: MatchingRules) -> tuple[dict[str, Any], ...]:
    """Group header records by series UID into rows of the series table, sorted by patient,
    study date and time, study and series number."""
    by_series: dict[str, list[HeaderRecord]] = defaultdict(list)
    for rec in records:
        by_series[rec.series_instance_uid].append(rec)
    sequences: dict[tuple[Any, ...], str] = {}
    rows = [_series_row(recs, rules, sequences) for recs in by_series.values()]

    def order(row: dict[str, Any]) -> tuple[Any, ...]:
        number = row["series_number"]
        return (
            row["patient_id"],
            row["study_date"],
            row["study_time"],
            row["study_instance_uid"],
            number is None,
            number or 0,
        )

    return tuple(sorted(rows, key=order))


def index_folder(
    root: str | os.PathLike[str],
    *,
    rules: MatchingRules | None = None,
    progress: ProgressCallback | None = None,
    cache: str | os.PathLike[str] | None = None,
    workers: int | None = None,
) -> IndexResult:
    """Index every DICOM image below ``root`` (headers only).

    Parameters
    ----------
    root : path
        A folder (a CD or PACS export), searched recursively.
    rules : MatchingRules, optional
        Sequence naming rules (default: the built-in ``matching.toml``).
    progress : callable, optional
        Called as ``progress(done, total)`` while headers are read.
    cache : path, optional
        A SQLite file (the project database) keeping header records by path, size and mtime:
        a re-index reads only new or changed files.
    workers : int, optional
        Processes to read headers in (see :func:`iter_headers`; the result is the same).

    Returns
    -------
    IndexResult
        The series table and the skipped files.

    Raises
    ------
    DicomIndexError
        When ``root`` is missing, not a folder, empty, or holds no DICOM image.
    """
    root = Path(root)
    if not root.exists():
        raise DicomIndexError(f"{root}: no such folder")
    if not root.is_dir():
        raise DicomIndexError(f"{root}: not a folder")
    rules = rules or load_rules()
    walk_skipped: list[SkippedFile] = []
    stats = scan_files(root, walk_skipped)
    if not stats:
        raise DicomIndexError(f"{root}: the folder is empty (no files)")
    new_database = cache is not None and not os.path.lexists(cache)
    store = IndexCache(cache) if cache is not None else None
    try:
        if store is None:
            rows, skipped, read = _index_files(root, stats, rules, None, progress, workers)
        else:
            key = os.fspath(root.resolve())
            digest = snapshot_digest(stats, f"{__version__}\n{rules!r}")
            snapshot = store.snapshot(key, digest)
            if snapshot is not None:
                logger.info("%s unchanged since the last scan: %d files", root, len(stats))
                rows, skipped = tuple(snapshot[0]), [SkippedFile(*s) for s in snapshot[1]]
                read = 0
            else:
                rows, skipped, read = _index_files(root, stats, rules, store, progress, workers)
                store.save_snapshot(key, digest, rows, [(s.path, s.reason) for s in skipped])
    except DicomIndexError:
        if store is not None and cache is not None and new_database:  # made for nothing: remove
            store.close()
            store = None
            for suffix in ("", "-wal", "-shm"):
                Path(f"{os.fspath(cache)}{suffix}").unlink(missing_ok=True)
        raise
    finally:
        if store is not None:
            store.close()
    skipped = walk_skipped + skipped
    logger.info(
        "indexed %d series, skipped %d files, read %d headers", len(rows), len(skipped), read
    )
    return IndexResult(root, rows, skipped, read)


def _index_files(
    root: Path,
    stats: dict[str, tuple[int, int]],
    rules: MatchingRules,
    store: IndexCache | None,
    progress: ProgressCallback | None,
    workers: int | None,
) -> tuple[tuple[dict[str, Any], ...], list[SkippedFile], int]:
    """Read the headers the cache does not know, and tabulate every image's series.

    Returns the series rows, the skipped files and how many headers were read.
    """
    known: dict[str, HeaderRecord | str] = {}
    todo = list(stats)
    if store:
        known, todo = store.lookup(stats)
    logger.info("reading headers of %d of %d files below %s", len(todo), len(stats), root)
    fresh: list[HeaderRecord | SkippedFile] = []
    for batch in iter_headers(todo, workers=workers):
        fresh += batch
        if store:
            records = [r for r in batch if isinstance(r, HeaderRecord)]
            store.add(
                stats, records, {r.path: r.reason for r in batch if isinstance(r, SkippedFile)}
            )
        if progress:
            progress(len(fresh), len(todo))
    if store:
        store.forget_gone(stats, under=os.fspath(root))
    by_path: dict[str, HeaderRecord | SkippedFile] = {
        p: SkippedFile(p, v) if isinstance(v, str) else v for p, v in known.items()
    }
    by_path.update((r.path, r) for r in fresh)
    images: list[HeaderRecord] = []
    skipped: list[SkippedFile] = []
    seen: dict[str, str] = {}
    for path in stats:
        item = by_path[path]
        if isinstance(item, SkippedFile):
            skipped.append(item)
        elif item.sop_instance_uid and item.sop_instance_uid in seen:
            first = seen[item.sop_instance_uid]
            skipped.append(SkippedFile(item.path, f"duplicate of {first} (same SOPInstanceUID)"))
        else:
            seen[item.sop_instance_uid] = item.path
            images.append(item)
    if not images:
        raise DicomIndexError(
            f"{root}: no DICOM images found among {len(stats)} files "
            f"(first skipped: {skipped[0].path}: {skipped[0].reason})"
        )
    return series_rows(images, rules), skipped, len(todo)
