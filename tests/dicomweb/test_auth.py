"""Credentials of a DICOMweb service: from netrc or the environment, never from the URL, never
in a message; checked against a real Orthanc that asks for basic authentication."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from pacs_fixtures import running_orthanc

from spondy_annotate.dicomweb.auth import (
    BASIC_ENV,
    TOKEN_ENV,
    DicomWebError,
    authenticated_session,
    check_url,
    is_url,
)
from spondy_annotate.dicomweb.service import DicomWebService

USER, PASSWORD = "reader", "s3cret-Pa55"


@pytest.fixture(scope="module")
def locked(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The DICOMweb root of an empty Orthanc that wants ``USER``'s password."""
    with running_orthanc(tmp_path_factory.mktemp("locked"), users={USER: PASSWORD}) as root:
        yield f"{root}/dicom-web"


@pytest.fixture(autouse=True)
def no_credentials(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Start every test without credentials in the environment or a netrc file."""
    for name in (TOKEN_ENV, BASIC_ENV):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("NETRC", str(tmp_path / "no-netrc"))


def _search(url: str, tmp_path: Path) -> list[object]:
    return list(DicomWebService(url, cache_dir=tmp_path / "cache").search_series())


def test_without_credentials_the_refusal_is_one_line(locked: str, tmp_path: Path) -> None:
    with pytest.raises(DicomWebError, match=r"HTTP 401") as info:
        _search(locked, tmp_path)
    assert len(str(info.value).splitlines()) == 1


def test_credentials_from_a_netrc_file(
    locked: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    netrc = tmp_path / "netrc"
    netrc.write_text(f"machine 127.0.0.1 login {USER} password {PASSWORD}\n")
    netrc.chmod(0o600)
    monkeypatch.setenv("NETRC", str(netrc))
    assert _search(locked, tmp_path) == []


def test_credentials_from_the_environment(
    locked: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(BASIC_ENV, f"{USER}:{PASSWORD}")
    assert _search(locked, tmp_path) == []
    monkeypatch.setenv(BASIC_ENV, f"{USER}:wrong")
    with pytest.raises(DicomWebError, match="HTTP 401") as info:
        _search(locked, tmp_path)
    assert "wrong" not in str(info.value)


def test_a_bearer_token_is_sent_as_authorization(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(TOKEN_ENV, "tok-123")
    monkeypatch.setenv(BASIC_ENV, f"{USER}:{PASSWORD}")  # the token wins
    session = authenticated_session("https://pacs.example/dicom-web")
    assert session.headers["Authorization"] == "Bearer tok-123"
    assert session.auth is None


def test_credentials_in_the_url_are_refused_without_repeating_them() -> None:
    with pytest.raises(DicomWebError, match="netrc") as info:
        check_url(f"http://{USER}:{PASSWORD}@127.0.0.1:8042/dicom-web")
    assert PASSWORD not in str(info.value)


@pytest.mark.parametrize(
    ("source", "url"),
    [("http://pacs/dicom-web", True), ("HTTPS://pacs", True), ("/data/export", False),
     ("ftp://pacs", False), (Path("http:/x"), False)],
)  # fmt: skip
def test_only_http_urls_are_services(source: object, url: bool) -> None:
    assert is_url(source) is url
