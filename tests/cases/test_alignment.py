"""Automatic alignment: registering the phantom's follow-up to its baseline, storing it, ``align``."""

from __future__ import annotations

import argparse
import dataclasses
import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from spondy_annotate.cases.alignment import (
    AlignmentStatus,
    align_case,
    case_alignment_key,
    registration_pair,
    translation,
)
from spondy_annotate.cases.alignment_store import load_alignments, save_alignment
from spondy_annotate.cases.open import open_export
from spondy_annotate.dicom.volume import load_series
from spondy_annotate.projectdb.location import default_db_path
from spondy_annotate.synthetic.export import read_truth


def disc_centres(folder: Path, patient_id: str) -> tuple[np.ndarray, np.ndarray]:
    row = read_truth(folder).set_index("patient_id").loc[patient_id]
    return tuple(  # type: ignore[return-value]
        np.array([row[f"disc_center_{visit}_{a}_mm"] for a in "xyz"], dtype=float)
        for visit in ("baseline", "followup")
    )


@pytest.fixture(scope="module")
def cases(small_export: Path):
    return [c for c in open_export(small_export, cache=False).cases if c.pairs]


def test_registration_finds_the_disc_of_the_follow_up(small_export, cases):
    for case in cases:
        result = align_case(case)
        assert result.status is AlignmentStatus.AUTOMATIC, result.message
        assert result.key == case_alignment_key(case)
        assert result.sequence == registration_pair(case).label
        base, follow = disc_centres(small_export, case.patient_id)
        mapped = result.matrix[:3, :3] @ base + result.matrix[:3, 3]
        assert np.linalg.norm(mapped - follow) < 2.0  # 64 x 64 x 7 volumes: coarse
        np.testing.assert_allclose(result.matrix[3], [0, 0, 0, 1])
        assert 0 <= result.residual_mm < 2.0 and result.seconds > 0
        # the viewer's offset shows the follow-up's disc on the baseline's
        assert np.linalg.norm(result.offset_at(base) - (base - follow)) < 2.0


def test_a_registration_that_fails_is_a_result_with_the_reason(cases):
    case = cases[0]
    pair = registration_pair(case)

    def far_away(series):
        volume = load_series(series.files)
        if series is pair.followup:  # the follow-up 2 m away: nothing overlaps
            volume = dataclasses.replace(volume, origin=tuple(np.add(volume.origin, 2000.0)))
        return volume

    result = align_case(case, load=far_away)
    assert result.status is AlignmentStatus.FAILED and result.matrix is None
    assert result.message.startswith(f"{pair.label}: ")
    assert len(result.message.splitlines()) == 1
    np.testing.assert_array_equal(result.offset_at((1.0, 2.0, 3.0)), 0.0)


def test_alignments_are_kept_in_the_project_database(tmp_path, cases):
    db = tmp_path / "project.spondy.sqlite"
    assert load_alignments(db) == {}
    manual = translation(case_alignment_key(cases[0]), (1.0, -2.0, 3.0))
    np.testing.assert_allclose(manual.offset_at((5.0, 5.0, 5.0)), (1.0, -2.0, 3.0))
    automatic = dataclasses.replace(manual, status=AlignmentStatus.AUTOMATIC, residual_mm=0.4)
    save_alignment(db, automatic)
    stored = load_alignments(db)
    assert list(stored) == [automatic.key]
    again = stored[automatic.key]
    assert again.status is AlignmentStatus.AUTOMATIC and again.residual_mm == 0.4
    np.testing.assert_allclose(again.matrix, automatic.matrix)
    failed = dataclasses.replace(
        automatic, status=AlignmentStatus.FAILED, matrix=None, message="why"
    )
    save_alignment(db, failed)  # replaces
    assert load_alignments(db, [failed.key])[failed.key].message == "why"
    assert load_alignments(db, [("other", "1", "2")]) == {}


def run_align(*args: str) -> int:
    from spondy_annotate.cli import align_cmd

    parser = argparse.ArgumentParser()
    command = align_cmd.add_parser(parser.add_subparsers())
    command.set_defaults(run=align_cmd.run)
    parsed = parser.parse_args(["align", *args])
    return parsed.run(parsed)


def test_align_command_stores_every_case_and_prints_json(tmp_path, small_export, capsys):
    export = shutil.copytree(small_export, tmp_path / "export")
    assert run_align(str(export), "--json") == 0
    records = json.loads(capsys.readouterr().out)
    truth = read_truth(export)
    assert [r["patient_id"] for r in records] == sorted(truth["patient_id"])
    for record in records:
        assert {
            "patient_id",
            "baseline_study_uid",
            "followup_study_uid",
            "matrix",
            "residual_mm",
            "status",
        } <= set(record)
        assert record["status"] == "automatic"
        matrix = np.asarray(record["matrix"])
        assert matrix.shape == (4, 4)
        base, follow = disc_centres(export, record["patient_id"])
        assert np.linalg.norm(matrix[:3, :3] @ base + matrix[:3, 3] - follow) < 2.0
    assert len(load_alignments(default_db_path(export))) == len(records)
    # a second run takes them from the database; a reader's manual alignment is reported
    from spondy_annotate.grading.session import GradingSession, ViewState

    with GradingSession.open(default_db_path(export), reader="AB") as session:
        case = next(c for c in open_export(export).cases if c.pairs)
        session.save_view_state(
            session.register(case), ViewState(followup_offset_mm=(0.0, 1.0, 2.0))
        )
    assert run_align(str(export), "--json", "--reader", "AB") == 0
    again = {r["patient_id"]: r for r in json.loads(capsys.readouterr().out)}
    assert again[case.patient_id]["status"] == "manual"
    np.testing.assert_allclose(np.asarray(again[case.patient_id]["matrix"])[:3, 3], (0, -1, -2))
    others = [r for p, r in again.items() if p != case.patient_id]
    assert all(r["status"] == "automatic" for r in others)
    assert run_align(str(export)) == 0
    assert "automatic" in capsys.readouterr().out


def test_a_registration_can_be_cancelled(cases):
    import time

    from spondy_annotate.cases.alignment import RegistrationCancelled, register_volumes

    pair = registration_pair(cases[0])
    baseline, followup = load_series(pair.baseline.files), load_series(pair.followup.files)
    start = time.perf_counter()
    with pytest.raises(RegistrationCancelled):
        register_volumes(baseline, followup, cancelled=lambda: True)
    assert time.perf_counter() - start < 0.5
    result = align_case(cases[0], cancelled=lambda: True)
    assert result.status is AlignmentStatus.FAILED and result.message.endswith("cancelled")
