"""``spondy-annotate align DIR|URL``: register every case's follow-up to its baseline and store it.

The export is a folder or a DICOMweb service root; a service's series are retrieved (WADO-RS)
into its local cache folder and its alignments stored in its project database
(:func:`~spondy_annotate.cases.open.service_db_path`).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import deque
from typing import Any

from spondy_annotate.cli._common import add_index_options, open_with_progress


def add_parser(sub: Any) -> argparse.ArgumentParser:
    """Register ``align``."""
    p = sub.add_parser(
        "align",
        help="align each case's follow-up to its baseline (rigid registration)",
        description="Register each readable case's follow-up to its baseline (rigid, SimpleITK) "
        "and store the result in the project database, where the reading room finds it. Cases "
        "aligned before are not registered again unless --force.",
    )
    p.add_argument("folder", help="the export folder, or a DICOMweb service root URL")
    p.add_argument("--json", action="store_true", help="print one JSON object per case, a list")
    p.add_argument("--force", action="store_true", help="register again cases aligned before")
    p.add_argument(
        "--reader",
        metavar="NAME",
        help="report this reader's manual alignment (set in the reading room) where there is one",
    )
    add_index_options(p)
    return p


def run(args: argparse.Namespace) -> int:
    """Align, store, print."""
    from spondy_annotate.cases.alignment import (
        Alignment,
        align_case,
        case_alignment_key,
        registration_pair,
        translation,
    )
    from spondy_annotate.cases.alignment_store import load_alignments, save_alignment
    from spondy_annotate.cases.pairing import CaseStatus
    from spondy_annotate.dicom.volume import load_series

    opened = open_with_progress(args)
    db = opened.db_path
    ready = [c for c in opened.cases if c.status is CaseStatus.READY]
    stored = load_alignments(db) if db is not None and not args.force else {}
    manual = _manual_offsets(db, args.reader) if db is not None and args.reader else {}
    waiting = deque(c for c in ready if case_alignment_key(c) not in stored)
    results: list[Alignment] = []
    for number, case in enumerate(ready, start=1):
        key = case_alignment_key(case)
        alignment = stored.get(key)
        if alignment is None:
            waiting.popleft()
            upcoming = registration_pair(waiting[0]) if waiting else None
            if upcoming is not None:  # a DICOMweb service sends it while this case registers
                opened.prefetch(s for s in (upcoming.baseline, upcoming.followup) if s)
            alignment = align_case(case, load=lambda s: load_series(opened.files(s)))
            if db is not None:
                save_alignment(db, alignment)
        if key in manual:
            alignment = translation(key, manual[key])
        results.append(alignment)
        if not args.json:
            print(_line(alignment), flush=True)
        elif sys.stderr.isatty():
            sys.stderr.write(f"\raligned {number}/{len(ready)}")
    if args.json:
        print(json.dumps([a.to_json() for a in results], indent=2))
    else:
        failed = sum(a.status.value == "failed" for a in results)
        where = f" (stored in {db})" if db is not None else ""
        print(f"\n{len(results)} cases aligned, {failed} failed{where}")
    return 0


def _line(alignment: Any) -> str:
    """One line per case for the terminal."""
    head = f"patient {alignment.patient_id}: {alignment.status.value}"
    if alignment.status.value == "automatic":
        return (
            f"{head}, {alignment.residual_mm:.1f} mm residual ({alignment.sequence}, "
            f"{alignment.seconds:.1f} s)"
        )
    return f"{head} ({alignment.message})" if alignment.message else head


def _manual_offsets(db: Any, reader: str) -> dict[tuple[str, str, str], list[float]]:
    """``{case key: follow-up offset}`` of ``reader``'s manual alignments in ``db``."""
    from spondy_annotate.grading.session import OFFSET_KEY
    from spondy_annotate.grading.store import Store

    if not db.exists():
        return {}
    offsets = {}
    with Store(db, create=False) as store:
        for record in store.cases():
            offset = store.get_case_state(record.case_id, reader).get(OFFSET_KEY)
            if isinstance(offset, list) and len(offset) == 3:
                key = (record.patient_id, record.baseline_study_uid, record.followup_study_uid)
                offsets[key] = offset
    return offsets
