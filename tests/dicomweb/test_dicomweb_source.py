"""A DICOMweb service as a source, against a real Orthanc holding the small synthetic export:
the same series table, cases and voxels as the folder."""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path

import numpy as np
import pytest
from pacs_fixtures import orthanc_small, user_dirs  # noqa: F401 - fixtures

from spondy_annotate import cli
from spondy_annotate.cases.open import OpenedExport, open_export
from spondy_annotate.dicom.volume import load_series
from spondy_annotate.dicomweb.service import DicomWebService

#: Columns that differ by nature: the files are cache paths, DICOMweb metadata has no
#: transfer syntax.
SOURCE_COLUMNS = ["files", "transfer_syntaxes"]
pytestmark = pytest.mark.usefixtures("user_dirs")


def _cases(opened: OpenedExport) -> list[tuple[object, ...]]:
    return [
        (
            c.patient_id,
            c.status,
            c.baseline and c.baseline.study_instance_uid,
            c.followup and c.followup.study_instance_uid,
            [
                (
                    p.label,
                    p.baseline and p.baseline.series_instance_uid,
                    p.followup and p.followup.series_instance_uid,
                )
                for p in c.pairs
            ],
        )  # fmt: skip
        for c in opened.cases
    ]


def test_series_table_and_cases_equal_the_folders(
    orthanc_small: str,  # noqa: F811
    small_export: Path,
    user_dirs: Path,  # noqa: F811
) -> None:
    web = open_export(orthanc_small, cache=False)
    folder = open_export(small_export, cache=False)
    assert web.service is not None and web.source == orthanc_small
    assert web.folder.is_relative_to(user_dirs / "cache")
    expected = folder.index.series.drop(columns=SOURCE_COLUMNS)
    assert web.index.series.drop(columns=SOURCE_COLUMNS).equals(expected)
    assert _cases(web) == _cases(folder)
    assert all(row["transfer_syntaxes"] == [] for row in web.index.rows)
    # indexing read metadata only: no instance file is in the cache yet
    assert not list(web.folder.rglob("*.dcm"))


def test_a_loaded_volume_equals_the_folders_voxel_for_voxel(
    orthanc_small: str,  # noqa: F811
    small_export: Path,
) -> None:
    web = open_export(orthanc_small, cache=False)
    folder = open_export(small_export, cache=False)
    for web_case, folder_case in zip(web.cases, folder.cases, strict=True):
        for web_pair, folder_pair in zip(web_case.pairs, folder_case.pairs, strict=True):
            assert web_pair.baseline is not None and folder_pair.baseline is not None
            a = load_series(web.files(web_pair.baseline))
            b = load_series(folder.files(folder_pair.baseline))
            np.testing.assert_array_equal(a.array, b.array)
            assert (a.spacing, a.origin) == (b.spacing, b.origin)
            np.testing.assert_array_equal(a.direction, b.direction)


def test_series_are_retrieved_once_and_prefetched(
    orthanc_small: str,  # noqa: F811
) -> None:
    web = open_export(orthanc_small, cache=False)
    assert web.service is not None
    first, second = web.cases[0], web.cases[1]
    series = first.pairs[0].followup
    assert series is not None
    files = web.files(series)
    times = [os.stat(f).st_mtime_ns for f in files]
    assert web.files(series) == files
    assert [os.stat(f).st_mtime_ns for f in files] == times  # not retrieved again
    web.prefetch(p.baseline for p in second.pairs if p.baseline is not None)
    web.service.close()  # waits for the prefetch
    assert all(os.path.isfile(f) for p in second.pairs if p.baseline for f in p.baseline.files)


def test_metadata_is_kept_in_the_cache_and_read_back(
    orthanc_small: str,  # noqa: F811
) -> None:
    web = open_export(orthanc_small, cache=False)
    assert web.service is not None
    series = web.index.records[0]
    cached = web.folder / series.study_instance_uid / series.series_instance_uid / "metadata.json"
    assert len(json.loads(cached.read_text())) == series.num_images
    headers = web.service.headers(series)
    assert sorted(h.SOPInstanceUID for h in headers) == sorted(Path(f).stem for f in series.files)
    assert all("PixelData" not in h for h in headers)


def test_index_and_cases_commands_take_a_url(
    orthanc_small: str,  # noqa: F811
    small_export: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert cli.main(["index", orthanc_small, "--json"]) == 0
    web = json.loads(capsys.readouterr().out)
    assert cli.main(["index", str(small_export), "--json", "--no-cache"]) == 0
    folder = json.loads(capsys.readouterr().out)

    def strip(rows: list[dict[str, object]]) -> list[dict[str, object]]:
        return [{k: v for k, v in r.items() if k not in SOURCE_COLUMNS} for r in rows]

    assert strip(web["series"]) == strip(folder["series"])
    assert cli.main(["cases", orthanc_small]) == 0
    assert "SYN0001" in capsys.readouterr().out


def test_the_service_keeps_its_cache_folder(tmp_path: Path) -> None:
    service = DicomWebService("http://127.0.0.1:1/dicom-web/", cache_dir=tmp_path)
    assert service.url == "http://127.0.0.1:1/dicom-web"
    assert service.instance_path("1.2", "1.3", "1.4") == tmp_path / "1.2" / "1.3" / "1.4.dcm"


def test_a_series_being_prefetched_is_waited_for_not_retrieved_twice(
    orthanc_small: str,  # noqa: F811
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="spondy_annotate.dicomweb.service")
    web = open_export(orthanc_small, cache=False)
    assert web.service is not None
    series = [s for c in web.cases for p in c.pairs for s in (p.baseline, p.followup) if s]
    web.prefetch(series)
    for s in series:  # while the prefetch retrieves them, one after the other
        assert all(os.path.isfile(f) for f in web.files(s))
    web.service.close()
    retrieved = [r.getMessage() for r in caplog.records if r.getMessage().startswith("retriev")]
    assert sorted(retrieved) == sorted(f"retrieving series {s.series_instance_uid}" for s in series)
