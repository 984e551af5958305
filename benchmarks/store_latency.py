"""Answer latency and write throughput of the grading store: SQLite file vs local PostgreSQL.

Starts its own PostgreSQL server on 127.0.0.1 (``tests/pg_server.py``, as the tests do; Debian's
``postgresql``, from ``scripts/install-system-packages.sh``) and, in the same run, on both
backends:

* latency of one answer (:meth:`Store.record_answer`, committed durably before it returns),
  p50 and p99 over ``--answers`` answers by one writer;
* throughput with 1, 4 and 8 writer processes (``--writers``) recording ``--per-writer``
  answers each at once, answers per second from the moment all are ready.

Usage: ``python benchmarks/store_latency.py [--answers 1000] [--per-writer 300]``.
Wall-clock figures; nothing is asserted.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from pg_server import postgres_bin, running_postgres  # noqa: E402 - the tests' own server

from spondy_annotate.grading.rubric_toml import default_rubric  # noqa: E402
from spondy_annotate.grading.store import Store  # noqa: E402

WRITER = textwrap.dedent(
    """
    import sys
    from spondy_annotate.grading.rubric_toml import default_rubric
    from spondy_annotate.grading.store import Store

    db, reader, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
    with Store(db) as store:
        cases = [store.register_case(f"P{i}", f"1.{i}.1", None, f"1.{i}.2", None) for i in range(5)]
        session = store.start_session(reader, rubric=default_rubric())
        print("ready", flush=True)
        sys.stdin.readline()
        for i in range(n):
            store.record_answer(session, cases[i % 5], "note", f"{reader}-{i}")
    """
)


def latencies(db: str | Path, n: int) -> list[float]:
    """Seconds per answer of ``n`` answers recorded one after the other."""
    times = []
    with Store(db) as store:
        case = store.register_case("P0", "1.0.1", None, "1.0.2", None)
        session = store.start_session("LAT", rubric=default_rubric())
        for i in range(n):
            start = time.perf_counter()
            store.record_answer(session, case, "note", f"answer {i}")
            times.append(time.perf_counter() - start)
    return times


def throughput(db: str | Path, writers: int, per_writer: int, script: Path) -> float:
    """Answers per second of ``writers`` processes writing ``per_writer`` answers at once."""
    procs = [
        subprocess.Popen(
            [sys.executable, str(script), str(db), f"W{writers}-{i}", str(per_writer)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        for i in range(writers)
    ]
    for p in procs:
        assert p.stdout is not None and p.stdout.readline() == "ready\n"
    start = time.perf_counter()
    for p in procs:
        assert p.stdin is not None
        p.stdin.write("go\n")
        p.stdin.flush()
    for p in procs:
        p.communicate(timeout=900)
        if p.returncode:
            raise SystemExit(f"a writer failed (exit {p.returncode})")
    return writers * per_writer / (time.perf_counter() - start)


def percentile(values: list[float], q: float) -> float:
    """The ``q`` quantile (0-1) of ``values``."""
    return statistics.quantiles(values, n=100, method="inclusive")[round(q * 100) - 1]


def main() -> int:
    """Measure and print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--answers", type=int, default=1000, help="answers timed one by one")
    parser.add_argument("--per-writer", type=int, default=300, help="answers per writer process")
    parser.add_argument("--writers", default="1,4,8", help="writer counts (comma-separated)")
    args = parser.parse_args()
    found = postgres_bin()
    if found is None:
        raise SystemExit("PostgreSQL is not installed (run scripts/install-system-packages.sh)")
    counts = [int(w) for w in args.writers.split(",")]
    with tempfile.TemporaryDirectory() as tmp, running_postgres(found) as server:
        script = Path(tmp) / "writer.py"
        script.write_text(WRITER)
        databases: dict[str, Callable[[str], str | Path]] = {
            "SQLite": lambda name: Path(tmp) / f"{name}.sqlite",
            "PostgreSQL": server.create_database,
        }
        print(f"answer latency ({args.answers} answers, one writer), ms:")
        p50 = {}
        for backend, make in databases.items():
            times = latencies(make("latency"), args.answers)
            p50[backend] = percentile(times, 0.5)
            print(
                f"  {backend:<11} p50 {p50[backend] * 1e3:6.2f}  "
                f"p99 {percentile(times, 0.99) * 1e3:6.2f}  max {max(times) * 1e3:6.2f}"
            )
        print(f"  PostgreSQL / SQLite p50: {p50['PostgreSQL'] / p50['SQLite']:.2f}x")
        print(f"throughput ({args.per_writer} answers per writer), answers/s:")
        for writers in counts:
            rates = {
                backend: throughput(make(f"w{writers}"), writers, args.per_writer, script)
                for backend, make in databases.items()
            }
            print(
                f"  {writers} writer(s): SQLite {rates['SQLite']:7.0f}  PostgreSQL "
                f"{rates['PostgreSQL']:7.0f}  ({rates['PostgreSQL'] / rates['SQLite']:.2f}x)"
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
