"""A real PACS for the tests: Orthanc with its DICOMweb plugin (Debian packages ``orthanc``,
``orthanc-dicomweb``, installed by ``scripts/install-system-packages.sh``).

Test modules import the fixtures they use (``from pacs_fixtures import orthanc_small``). Each
server is a plain ``Orthanc config.json`` process on 127.0.0.1 (free ports, storage in a
temporary folder), stopped by its PID at the end. Where Orthanc is not installed the tests skip
saying so — except in CI (``$CI`` set), where they fail.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

import pytest

#: Where Debian's orthanc-dicomweb puts the plugin.
PLUGIN = Path("/usr/share/orthanc/plugins/libOrthancDicomWeb.so")
#: How long Orthanc may take to answer /system.
START_TIMEOUT_S = 30.0


def need(what: str, found: bool) -> None:
    """Skip when ``what`` is missing (outside CI); fail in CI, where everything must run."""
    if found:
        return
    message = f"{what} is not installed (run scripts/install-system-packages.sh as root)"
    if os.environ.get("CI"):
        pytest.fail(message)
    pytest.skip(message)


def orthanc_binary() -> str | None:
    """The Orthanc executable (Debian installs it in /usr/sbin)."""
    return shutil.which("Orthanc") or shutil.which("Orthanc", path="/usr/sbin:/usr/local/sbin")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def running_orthanc(folder: Path, users: Mapping[str, str] | None = None) -> Iterator[str]:
    """Start Orthanc with DICOMweb in ``folder``; yield its HTTP root (``http://127.0.0.1:N``).

    ``users``: ``{name: password}`` turns HTTP basic authentication on.
    """
    binary = orthanc_binary()
    need("Orthanc", binary is not None)
    need("the Orthanc DICOMweb plugin", PLUGIN.is_file())
    assert binary is not None
    http_port = _free_port()
    config = {
        "Name": "spondy-test",
        "HttpPort": http_port,
        "DicomPort": _free_port(),
        "RemoteAccessAllowed": False,
        "AuthenticationEnabled": bool(users),
        "RegisteredUsers": dict(users or {}),
        "StorageDirectory": str(folder / "storage"),
        "IndexDirectory": str(folder / "storage"),
        "Plugins": [str(PLUGIN)],
        "DicomWeb": {"Enable": True, "Root": "/dicom-web/"},
    }
    (folder / "config.json").write_text(json.dumps(config), encoding="utf-8")
    log = open(folder / "orthanc.log", "wb")  # noqa: SIM115 - closed below
    process = subprocess.Popen([binary, str(folder / "config.json")], stdout=log, stderr=log)
    root = f"http://127.0.0.1:{http_port}"
    try:
        deadline = time.monotonic() + START_TIMEOUT_S
        while True:
            try:
                urllib.request.urlopen(f"{root}/system", timeout=1).close()
                break
            except urllib.error.HTTPError:  # 401: up, and asking for credentials
                break
            except OSError:
                if process.poll() is not None or time.monotonic() > deadline:
                    text = (folder / "orthanc.log").read_text(errors="replace")[-2000:]
                    raise RuntimeError(f"Orthanc did not start:\n{text}") from None
                time.sleep(0.1)
        yield root
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()


def upload_folder(root: str, folder: Path) -> int:
    """POST every DICOM file below ``folder`` to Orthanc's REST API; return how many it took."""
    stored = 0
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        request = urllib.request.Request(f"{root}/instances", data=path.read_bytes(), method="POST")
        try:
            urllib.request.urlopen(request, timeout=30).close()
            stored += 1
        except urllib.error.HTTPError:  # not DICOM: the export's junk files
            pass
    return stored


@pytest.fixture(scope="session")
def orthanc_small(tmp_path_factory: pytest.TempPathFactory, small_export: Path) -> Iterator[str]:
    """The DICOMweb root of an Orthanc holding the small synthetic export."""
    with running_orthanc(tmp_path_factory.mktemp("orthanc")) as root:
        assert upload_folder(root, small_export) > 0
        yield f"{root}/dicom-web"


@pytest.fixture
def user_dirs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Keep the DICOMweb cache (``XDG_CACHE_HOME``) and the service's project database
    (``XDG_DATA_HOME``) in ``tmp_path``."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    return tmp_path
