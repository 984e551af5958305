"""``spondy-annotate cases DIR``: each patient's baseline/follow-up pair and matched series."""

from __future__ import annotations

import argparse
from typing import Any

from spondy_annotate.cli._common import add_index_options, open_with_progress
from spondy_annotate.errors import CaseSelectionError


def add_parser(sub: Any) -> argparse.ArgumentParser:
    """Register ``cases``."""
    p = sub.add_parser(
        "cases",
        help="pair each patient's baseline and follow-up study",
        description="Pair each patient's baseline and follow-up study and match their series.",
    )
    p.add_argument("folder", help="the export folder")
    p.add_argument(
        "--choose",
        action="append",
        default=[],
        metavar="PATIENT=BASE,FOLLOWUP",
        help="for a patient with more than two studies: the two to compare, each a study UID, "
        "an ISO date or a number in date order (repeatable)",
    )
    add_index_options(p)
    return p


def parse_choices(values: list[str]) -> dict[str, tuple[str, str]]:
    """Parse ``--choose PATIENT=BASE,FOLLOWUP`` options."""
    choices = {}
    for value in values:
        patient, _, pair = value.partition("=")
        parts = [p.strip() for p in pair.split(",")]
        if not patient or len(parts) != 2 or not all(parts):
            raise CaseSelectionError(f"--choose {value!r}: expected PATIENT=BASELINE,FOLLOWUP")
        choices[patient.strip()] = (parts[0], parts[1])
    return choices


def run(args: argparse.Namespace) -> int:
    """Print the cases."""
    from spondy_annotate.cases.pairing import CaseStatus

    cases = open_with_progress(args, parse_choices(args.choose)).cases
    for case in cases:
        print(f"patient {case.patient_id}: {case.status.value}")
        if case.status is CaseStatus.READY:
            assert case.baseline and case.followup
            print(
                f"  baseline  {case.baseline.date_text}  {case.baseline.description}\n"
                f"  follow-up {case.followup.date_text}  {case.followup.description}"
                f"  ({case.interval_days} days)"
            )
            for pair in case.pairs:
                left = pair.baseline.series_description if pair.baseline else "-"
                right = pair.followup.series_description if pair.followup else "-"
                print(f"    {pair.label:10} {left:28} | {right}")
        else:
            for n, study in enumerate(case.studies, start=1):
                print(
                    f"  study {n}: {study.date_text}  {study.description}  {study.study_instance_uid}"
                )
            if case.status is CaseStatus.NEEDS_CHOICE:
                print(f"  choose two: --choose {case.patient_id}=1,2")
    ready = sum(c.status is CaseStatus.READY for c in cases)
    print(f"\n{len(cases)} patients: {ready} ready, {len(cases) - ready} not ready")
    return 0
