"""A throw-away PostgreSQL server on 127.0.0.1, for the tests and the store benchmark.

Debian's ``postgresql`` (installed by ``scripts/install-system-packages.sh``) puts its programs in
``/usr/lib/postgresql/<major>/bin``. :class:`PostgresServer` runs ``initdb`` in a fresh folder and
``postgres`` on a free port, listening on 127.0.0.1 only, with trust authentication for its
superuser ``postgres``. ``initdb`` refuses to run as root: as root, both run as ``nobody`` in a
folder made theirs. The server is stopped by its PID. No pytest here, so that
``benchmarks/store_latency.py`` can start the same server.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psycopg

#: The superuser of a test server (trust authentication, 127.0.0.1 only).
SUPERUSER = "postgres"
#: Seconds the server may take to accept connections.
START_TIMEOUT_S = 30.0
#: The unprivileged user running the server when the tests run as root.
UNPRIVILEGED = "nobody"


def postgres_bin() -> Path | None:
    """The folder of ``initdb`` and ``postgres`` (the newest Debian version), if installed."""
    on_path = shutil.which("initdb")
    if on_path:
        return Path(on_path).parent
    versions = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"), key=lambda p: p.parts)
    return versions[-1].parent if versions else None


def free_port() -> int:
    """A TCP port free on 127.0.0.1 now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class PostgresServer:
    """A PostgreSQL server in ``folder`` (made by :meth:`init`), started and stopped at will.

    Parameters
    ----------
    folder
        An empty folder for the cluster; as root it is given to :data:`UNPRIVILEGED`, and it
        must then be reachable by that user (``tempfile.mkdtemp()``, not pytest's tmp_path).
    bin_dir
        Where ``initdb`` and ``postgres`` are (:func:`postgres_bin`).
    fsync
        False: the server does not wait for the disk (``fsync=off``). A commit still reaches the
        operating system before it is acknowledged, so a killed server (or client) loses
        nothing; only a power cut would. For tests, which kill processes, never the machine.
    """

    def __init__(self, folder: Path, bin_dir: Path, *, fsync: bool = True) -> None:
        self.folder = folder
        self.fsync = fsync
        self.data = folder / "data"
        self.bin = bin_dir
        self.port = free_port()
        self._process: subprocess.Popen[bytes] | None = None
        self._as: dict[str, str] = (
            {"user": UNPRIVILEGED, "group": "nogroup"} if os.geteuid() == 0 else {}
        )

    def url(self, database: str = "postgres", user: str = SUPERUSER) -> str:
        """The URL of ``database`` on this server."""
        return f"postgresql://{user}@127.0.0.1:{self.port}/{database}"

    def init(self) -> None:
        """Make the cluster (``initdb``)."""
        if self._as:
            shutil.chown(self.folder, self._as["user"], self._as["group"])
        subprocess.run(
            [str(self.bin / "initdb"), "-D", str(self.data), "-U", SUPERUSER, "--auth=trust"]
            + ["--no-sync", "-E", "UTF8", "--locale=C"],
            check=True,
            capture_output=True,
            cwd=self.folder,
            **self._as,  # type: ignore[call-overload]
        )

    def start(self) -> None:
        """Start the server and wait until it accepts connections."""
        log = open(self.folder / "postgres.log", "ab")  # noqa: SIM115 - the server's own
        self._process = subprocess.Popen(
            [str(self.bin / "postgres"), "-D", str(self.data), "-p", str(self.port)]
            + ["-c", "listen_addresses=127.0.0.1", "-k", str(self.folder)]
            + ["-c", "max_connections=50", "-c", f"fsync={'on' if self.fsync else 'off'}"],
            stdout=log,
            stderr=log,
            cwd=self.folder,
            **self._as,  # type: ignore[call-overload]
        )
        log.close()
        deadline = time.monotonic() + START_TIMEOUT_S
        while not self._accepts():
            if self._process.poll() is not None or time.monotonic() > deadline:
                text = (self.folder / "postgres.log").read_text(errors="replace")[-2000:]
                raise RuntimeError(f"PostgreSQL did not start:\n{text}")
            time.sleep(0.1)

    def _accepts(self) -> bool:
        """Whether the server accepts connections now."""
        try:
            psycopg.connect(self.url(), connect_timeout=2).close()
        except psycopg.OperationalError:
            return False
        return True

    def stop(self, *, immediate: bool = False) -> None:
        """Stop the server: fast shutdown (SIGINT), or ``immediate`` (SIGQUIT, as a crash)."""
        if self._process is None:
            return
        self._process.send_signal(signal.SIGQUIT if immediate else signal.SIGINT)
        try:
            self._process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait()
        self._process = None

    def create_database(self, name: str) -> str:
        """Create the database ``name``; return its URL."""
        with psycopg.connect(self.url(), autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')  # a test's own name, no user input
        return self.url(name)


@contextmanager
def running_postgres(bin_dir: Path, *, fsync: bool = True) -> Iterator[PostgresServer]:
    """A new server in a temporary folder, stopped and removed at the end."""
    folder = Path(tempfile.mkdtemp(prefix="spondy-pg-"))
    server = PostgresServer(folder, bin_dir, fsync=fsync)
    try:
        server.init()
        server.start()
        yield server
    finally:
        server.stop()
        shutil.rmtree(folder, ignore_errors=True)
