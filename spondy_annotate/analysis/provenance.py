"""Where a result came from: input files and checksums, options, command, time, software.

Written into ``settings.json`` and the methods paragraph, so that a reviewer can rerun the
analysis and check that the inputs are the same. Files are named by their file name only
(folders may hold patient names) with their SHA-256.

Examples
--------
>>> prov = collect_provenance("gradings.csv", ["labs.csv"], options={})  # doctest: +SKIP
>>> prov.inputs[0].sha256                                               # doctest: +SKIP
"""

from __future__ import annotations

import datetime as dt
import hashlib
import os
import platform
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

__all__ = [
    "RNG",
    "InputFile",
    "Provenance",
    "collect_provenance",
    "file_sha256",
    "software_versions",
]

#: Packages whose versions the methods state.
_PACKAGES = ("spondy-annotate", "numpy", "scipy", "pandas", "scikit-learn", "matplotlib")
#: The random generator of the bootstrap and the Monte Carlo permutations.
RNG = "numpy.random.default_rng (PCG64)"


@dataclass(frozen=True)
class InputFile:
    """One input file: its role (``gradings``, ``labs``), file name and SHA-256."""

    role: str
    name: str
    sha256: str


@dataclass(frozen=True)
class Provenance:
    """Everything besides the settings that a rerun needs.

    Attributes
    ----------
    inputs
        The input files (a table already read in memory is not listed).
    options
        Reading options in words (lab column mapping, units, date formats).
    command
        The equivalent command line (file names only), or None when not run from one.
    started_at
        UTC time of the run, ISO 8601.
    software
        Python and package versions.
    rng
        The random generator (:data:`RNG`).
    """

    inputs: tuple[InputFile, ...] = ()
    options: Mapping[str, str] = field(default_factory=dict)
    command: str | None = None
    started_at: str = ""
    software: Mapping[str, str] = field(default_factory=dict)
    rng: str = RNG


def collect_provenance(
    gradings: object,
    labs: Sequence[str | os.PathLike[str]],
    *,
    options: Mapping[str, str],
    command: str | None = None,
) -> Provenance:
    """The provenance of a run on these inputs, now.

    Parameters
    ----------
    gradings
        The gradings source: a path is hashed, a table in memory is not.
    labs
        Lab file paths.
    options
        Reading options in words.
    command
        The equivalent command line, when run from one.
    """
    files = [("labs", Path(p)) for p in labs]
    if isinstance(gradings, (str, os.PathLike)):
        files.insert(0, ("gradings", Path(gradings)))
    inputs = tuple(InputFile(role, p.name, file_sha256(p)) for role, p in files if p.is_file())
    now = dt.datetime.now(dt.timezone.utc).replace(microsecond=0)
    return Provenance(
        inputs=inputs,
        options=dict(options),
        command=command,
        started_at=now.isoformat(),
        software=software_versions(),
    )


def file_sha256(path: str | os.PathLike[str]) -> str:
    """SHA-256 of a file's bytes, in hex."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def software_versions() -> dict[str, str]:
    """Versions of Python and the packages the analysis depends on."""
    from importlib.metadata import PackageNotFoundError, version

    def _version(name: str) -> str:
        try:
            return version(name)
        except PackageNotFoundError:
            return "not installed"

    return {"python": platform.python_version()} | {name: _version(name) for name in _PACKAGES}
