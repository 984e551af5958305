"""SRs sent with ``sr --stow`` to a real Orthanc are found again with QIDO-RS and re-import to
the same answers."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from pacs_fixtures import orthanc_small  # noqa: F401 - a fixture
from sr_fixtures import comparable, grade, run_command

from spondy_annotate.dicomweb.service import INSTANCE_COUNT, DicomWebService, json_value


@pytest.mark.slow
def test_stowed_srs_are_found_with_qido_and_reimport_to_the_same_answers(
    orthanc_small: str,  # noqa: F811
    small_export: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    db = tmp_path / "project.sqlite"
    grade(db, small_export)
    out = tmp_path / "sr"
    argv = ["sr", "--db", str(db), "--out", str(out), "--dicom", orthanc_small]
    assert run_command([*argv, "--stow", orthanc_small]) == 0  # graded images from the PACS too
    written = sorted(out.glob("*.dcm"))
    assert len(written) == 4

    service = DicomWebService(orthanc_small, cache_dir=tmp_path / "retrieved")
    found = service.search_series(Modality="SR")
    assert sum(int(json_value(s, INSTANCE_COUNT)) for s in found) == len(written)
    fresh = tmp_path / "fresh.sqlite"
    assert run_command(["sr-import", orthanc_small, "--db", str(fresh)]) == 0
    pd.testing.assert_frame_equal(comparable(fresh), comparable(db), check_exact=True)
