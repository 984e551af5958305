"""``spondy-annotate sample OUT``: write a synthetic DICOM export with its truth table."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from spondy_annotate.errors import SpondyError


def _count(text: str) -> int:
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must not be negative: {text}")
    return value


def _size(text: str) -> int:
    value = int(text)
    if value < 16:
        raise argparse.ArgumentTypeError(f"must be at least 16: {text}")
    return value


def add_parser(sub: Any) -> argparse.ArgumentParser:
    """Register ``sample``."""
    p = sub.add_parser(
        "sample",
        help="write a synthetic lumbar spine MRI export with known grades",
        description=(
            "Write a synthetic DICOM export: phantom patients with a baseline and a follow-up "
            "lumbar spine MRI, an infected disc whose grades are in OUT/truth.csv, files with "
            "random names in nested folders and a few non-DICOM files. No patient data."
        ),
    )
    p.add_argument("out", metavar="OUT", help="folder to write (new, or empty)")
    p.add_argument(
        "--patients",
        type=_count,
        default=3,
        help="patients with baseline and follow-up (default 3)",
    )
    p.add_argument(
        "--single-study",
        type=_count,
        default=0,
        metavar="N",
        help="extra patients with a baseline study only (default 0)",
    )
    p.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    p.add_argument("--rows", type=_size, default=256, help="image rows (default 256)")
    p.add_argument("--columns", type=_size, default=256, help="image columns (default 256)")
    p.add_argument("--slices", type=_count, default=15, help="slices per series (default 15)")
    p.add_argument(
        "--compress",
        choices=("rle", "jpegls"),
        help="RLE Lossless or JPEG-LS Lossless (default: uncompressed)",
    )
    p.add_argument(
        "--noise",
        type=float,
        default=0.015,
        help="Rician noise relative to the brightest tissue (default 0.015)",
    )
    p.add_argument("--axial", action="store_true", help="add an axial T2 through the lesion")
    p.add_argument(
        "--contrast", action="store_true", help="add a sagittal fat-saturated T1 after gadolinium"
    )
    p.add_argument(
        "--no-junk",
        action="store_true",
        help="leave out the non-DICOM files (README.TXT, .DS_Store, JPEG, empty file)",
    )
    return p


def run(args: argparse.Namespace) -> int:
    """Write the export and say where."""
    out = Path(args.out)
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise SpondyError(f"{out}: exists and is not an empty folder; give a new one")
    if args.slices < 1:
        raise SpondyError("--slices must be at least 1")
    if args.patients + args.single_study < 1:
        raise SpondyError("nothing to write: --patients and --single-study are both 0")
    from spondy_annotate.synthetic.export import generate_export

    truth = generate_export(
        out,
        patients=args.patients,
        seed=args.seed,
        rows=args.rows,
        columns=args.columns,
        slices=args.slices,
        axial=args.axial,
        contrast=args.contrast,
        compress=args.compress,
        junk=not args.no_junk,
        single_study_patients=args.single_study,
        noise=args.noise,
    )
    studies = int(
        truth["baseline_study_uid"].notna().sum() + truth["followup_study_uid"].notna().sum()
    )
    print(
        f"wrote {studies} studies of {len(truth)} synthetic patients to {out} "
        f"(truth: {out / 'truth.csv'})"
    )
    return 0
