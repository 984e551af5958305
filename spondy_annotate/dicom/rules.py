"""The matching config: sequence naming rules and the hanging protocol, from a small TOML file.

The index names each series' sequence with the ``[sequence]`` rules
(:mod:`~spondy_annotate.dicom.sequence`); the cases hang series side by side in the order of the
``[[protocol]]`` (:mod:`~spondy_annotate.cases.pairing`). Both live in one file, which a site
copies and edits (the built-in one is ``dicom/matching.toml``); it lives with the index, the
lowest layer that reads it.
"""

from __future__ import annotations

import os
import re
import sys
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from spondy_annotate.dicom.records import PLANES
from spondy_annotate.dicom.sequence import SequenceRules, SequenceType
from spondy_annotate.errors import ConfigError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

PLANE_ABBREVIATIONS = {"sagittal": "SAG", "coronal": "COR", "axial": "AX"}


@dataclass(frozen=True)
class ProtocolEntry:
    """One place in the hanging protocol: an orientation and a sequence shown side by side."""

    orientation: str
    sequence: SequenceType

    @property
    def label(self) -> str:
        """A short label such as ``"SAG STIR"``."""
        return f"{PLANE_ABBREVIATIONS[self.orientation]} {self.sequence.value}"


@dataclass(frozen=True)
class MatchingRules:
    """Sequence rules and the hanging protocol (see ``dicom/matching.toml``)."""

    name: str
    sequence: SequenceRules
    protocol: tuple[ProtocolEntry, ...]
    source: str


def load_rules(path: str | os.PathLike[str] | None = None) -> MatchingRules:
    """Load matching rules from ``path``, or the built-in defaults when ``path`` is None.

    Raises
    ------
    ConfigError
        With the file name and the offending key (or TOML line) when the file is invalid.
    """
    if path is None:
        ref = resources.files("spondy_annotate.dicom") / "matching.toml"
        text, source = ref.read_text(encoding="utf-8"), "built-in matching.toml"
    else:
        source = os.fspath(path)
        try:
            text = Path(path).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise ConfigError(f"{source}: cannot read rules file ({exc})") from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{source}: invalid TOML: {exc}") from None
    try:
        seq = SequenceRules.from_mapping(data.get("sequence", {}))
    except re.error as exc:
        raise ConfigError(f"{source}: [sequence] has an invalid pattern: {exc}") from None
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"{source}: [sequence] is invalid: {exc}") from None
    entries = []
    for n, entry in enumerate(data.get("protocol", []), start=1):
        plane, kind = entry.get("orientation"), entry.get("sequence")
        if plane not in PLANES:
            raise ConfigError(
                f"{source}: [[protocol]] entry {n}: orientation {plane!r} is not one of {PLANES}"
            )
        try:
            entries.append(ProtocolEntry(plane, SequenceType(kind)))
        except ValueError:
            names = [s.value for s in SequenceType]
            raise ConfigError(
                f"{source}: [[protocol]] entry {n}: sequence {kind!r} is not one of {names}"
            ) from None
    if not entries:
        raise ConfigError(f"{source}: no [[protocol]] entries")
    return MatchingRules(str(data.get("name", source)), seq, tuple(entries), source)
