"""``spondy-annotate align URL``: a DICOMweb service is aligned as its files are from a folder,
against a real Orthanc holding the small synthetic export."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from pacs_fixtures import orthanc_small, user_dirs  # noqa: F401 - fixtures

from spondy_annotate import cli
from spondy_annotate.cases.alignment_store import load_alignments
from spondy_annotate.cases.open import service_db_path

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("user_dirs")]


def test_align_on_a_url_gives_the_folders_matrices_and_stores_them(
    orthanc_small: str,  # noqa: F811
    small_export: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert cli.main(["align", orthanc_small, "--json"]) == 0
    web = json.loads(capsys.readouterr().out)
    assert cli.main(["align", str(small_export), "--json", "--no-cache"]) == 0
    folder = json.loads(capsys.readouterr().out)

    assert [sorted(r) for r in web] == [sorted(r) for r in folder]  # the same JSON shape
    assert [r["patient_id"] for r in web] == [r["patient_id"] for r in folder]
    for a, b in zip(web, folder, strict=True):
        assert a["status"] == b["status"] == "automatic"
        assert (a["baseline_study_uid"], a["followup_study_uid"], a["sequence"]) == (
            b["baseline_study_uid"],
            b["followup_study_uid"],
            b["sequence"],
        )
        np.testing.assert_allclose(a["matrix"], b["matrix"], rtol=0, atol=1e-6)

    # stored in the service's own project database, where a second run finds them
    stored = load_alignments(service_db_path(orthanc_small))
    assert len(stored) == len(web)
    assert cli.main(["align", orthanc_small]) == 0
    out = capsys.readouterr().out
    assert f"{len(web)} cases aligned, 0 failed (stored in {service_db_path(orthanc_small)})" in out
