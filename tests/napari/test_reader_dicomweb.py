"""The napari reader on a DICOMweb service URL (a real Orthanc holding the small synthetic
export): the same layers as on the folder, its series retrieved into the cache folder."""

from __future__ import annotations

import numpy as np
import pytest
from pacs_fixtures import orthanc_small, user_dirs  # noqa: F401 - fixtures
from spondy_napari import napari_get_reader

pytestmark = pytest.mark.usefixtures("user_dirs")


def test_a_url_reads_as_the_folder_does(orthanc_small, small_export) -> None:  # noqa: F811
    reader = napari_get_reader(orthanc_small)
    assert callable(reader)
    web = reader(orthanc_small)
    folder = napari_get_reader(str(small_export))(str(small_export))
    assert len(web) == len(folder) > 1
    for (web_data, web_kwargs, web_kind), (data, kwargs, kind) in zip(web, folder, strict=True):
        assert (web_kind, web_kwargs["name"]) == (kind, kwargs["name"])
        np.testing.assert_array_equal(web_data, data)
        np.testing.assert_allclose(web_kwargs["scale"], kwargs["scale"])


def test_an_unreachable_url_is_a_notification(notifications) -> None:
    url = "http://127.0.0.1:9/dicom-web"
    assert napari_get_reader(url)(url) == [(None,)]
    assert notifications == [("error", f"{url}: QIDO-RS series search failed (ConnectionError)")]
