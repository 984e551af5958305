"""Automatic alignment on the phantom: the affected disc's error against the truth, and the time.

Generates a synthetic export (default 20 patients, 256 x 256 x 15 sagittal T1, T2, STIR; kept
in ``/tmp/spondy_bench_align`` for later runs), registers every case's follow-up to its baseline
with :func:`spondy_annotate.cases.alignment.align_case` (volumes loaded beforehand: the time is the
registration's, with every core or with ``--threads 1`` as in the viewer) and compares where the
transform maps the baseline's disc centre with the follow-up's true disc centre (the truth
table's ``disc_center_*`` columns; the phantom lies shifted between visits). Prints the median
and maximum error in mm (targets: <= 1.5 mm median, <= 3 mm max), the residual the registration
reports and the time per case::

    .venv/bin/python benchmarks/alignment.py [--patients 20] [--threads 1] [--json]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

DEFAULT_FOLDER = Path("/tmp/spondy_bench_align")
TARGET_MEDIAN_MM, TARGET_MAX_MM = 1.5, 3.0


def main(argv: list[str] | None = None) -> int:
    import numpy as np

    from spondy_annotate.cases.alignment import align_case
    from spondy_annotate.cases.open import open_export
    from spondy_annotate.dicom.volume import load_series
    from spondy_annotate.synthetic.export import generate_export, read_truth

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--patients", type=int, default=20)
    parser.add_argument("--folder", type=Path, default=DEFAULT_FOLDER)
    parser.add_argument("--threads", type=int, default=None, help="SimpleITK threads")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = parser.parse_args(argv)

    folder = args.folder / f"export_{args.patients}"
    if not (folder / "truth.csv").exists():
        print(f"generating {args.patients} patients in {folder} ...", file=sys.stderr)
        generate_export(folder, patients=args.patients, seed=11)
    truth = read_truth(folder).set_index("patient_id")
    cases = [c for c in open_export(folder, cache=False).cases if c.pairs]
    errors, residuals, seconds, failed = [], [], [], []
    for case in cases:
        row = truth.loc[case.patient_id]
        base = np.array([row[f"disc_center_baseline_{a}_mm"] for a in "xyz"], dtype=float)
        follow = np.array([row[f"disc_center_followup_{a}_mm"] for a in "xyz"], dtype=float)
        volumes = {}
        for pair in case.pairs:
            for series in (pair.baseline, pair.followup):
                if series is not None:
                    volumes[series.series_instance_uid] = load_series(series.files)
        start = time.perf_counter()
        result = align_case(
            case, load=lambda s, v=volumes: v[s.series_instance_uid], threads=args.threads
        )
        seconds.append(time.perf_counter() - start)
        if result.matrix is None:
            failed.append(f"{case.patient_id}: {result.message}")
            continue
        mapped = result.matrix[:3, :3] @ base + result.matrix[:3, 3]
        errors.append(float(np.linalg.norm(mapped - follow)))
        residuals.append(float(result.residual_mm or 0.0))
    figures = {
        "cases": len(cases),
        "failed": failed,
        "error_median_mm": round(statistics.median(errors), 2) if errors else None,
        "error_max_mm": round(max(errors), 2) if errors else None,
        "residual_median_mm": round(statistics.median(residuals), 2) if residuals else None,
        "seconds_median": round(statistics.median(seconds), 2),
        "seconds_max": round(max(seconds), 2),
        "threads": args.threads or "all",
    }
    if args.json:
        print(json.dumps(figures, indent=2))
    else:
        print(
            f"{figures['cases']} cases, {len(failed)} failed; disc error median "
            f"{figures['error_median_mm']} mm (target <= {TARGET_MEDIAN_MM}), max "
            f"{figures['error_max_mm']} mm (target <= {TARGET_MAX_MM}); residual median "
            f"{figures['residual_median_mm']} mm; registration {figures['seconds_median']} s "
            f"per case (max {figures['seconds_max']} s, threads: {figures['threads']})"
        )
        for line in failed:
            print("  failed:", line)
    ok = bool(errors) and not failed
    ok = ok and statistics.median(errors) <= TARGET_MEDIAN_MM and max(errors) <= TARGET_MAX_MM
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
