"""Naming a series' MR sequence (T1, T2, STIR, post-contrast T1, ...) from its header hints.

The rules (patterns and thresholds) come from the matching config, so a site whose series
descriptions differ can change them without touching code.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import Enum
from typing import Any


class SequenceType(str, Enum):
    """The sequence kinds the hanging protocol knows."""

    T1 = "T1"
    """T1-weighted: fat bright, fluid and marrow edema dark."""
    T2 = "T2"
    """T2-weighted: fluid bright; edema and abscess bright."""
    STIR = "STIR"
    """Short-tau inversion recovery: fat suppressed, edema and fluid bright."""
    T1C = "T1C"
    """T1-weighted after gadolinium: enhancing tissue (infection, abscess wall) bright."""
    PD = "PD"
    """Proton-density weighted."""
    FLAIR = "FLAIR"
    """Fluid-attenuated inversion recovery."""
    OTHER = "other"
    """Anything the rules cannot name (localizers, diffusion, ...)."""


@dataclass(frozen=True)
class SequenceRules:
    """Patterns and thresholds for :func:`classify_sequence` (see ``dicom/matching.toml``)."""

    contrast: tuple[str, ...]
    stir: tuple[str, ...]
    t2: tuple[str, ...]
    t1: tuple[str, ...]
    pd: tuple[str, ...]
    stir_max_inversion_ms: float = 300.0
    flair_min_inversion_ms: float = 1500.0

    @classmethod
    def from_mapping(cls, table: Mapping[str, Any]) -> SequenceRules:
        """Build rules from the ``[sequence]`` table of a matching config."""
        patterns = {k: tuple(table.get(k, ())) for k in ("contrast", "stir", "t2", "t1", "pd")}
        for key, values in patterns.items():
            for pattern in values:
                re.compile(pattern)  # raises re.error, reported by the config loader
            patterns[key] = values
        return cls(
            **patterns,
            stir_max_inversion_ms=float(table.get("stir_max_inversion_ms", 300)),
            flair_min_inversion_ms=float(table.get("flair_min_inversion_ms", 1500)),
        )


def _matches(patterns: Sequence[str], text: str) -> bool:
    return any(re.search(p, text, flags=re.IGNORECASE) for p in patterns)


def classify_sequence(
    rules: SequenceRules,
    *,
    description: str = "",
    scanning_sequence: str = "",
    repetition_time: float | None = None,
    echo_time: float | None = None,
    inversion_time: float | None = None,
    contrast_agent: str = "",
) -> SequenceType:
    """Name the sequence of a series from its description and acquisition parameters.

    Inversion recovery with a short inversion time is STIR and a long one FLAIR; then the
    description's T1/T2/PD words decide; then TR/TE (T2: TE >= 60 ms; T1: TR <= 1000 ms and
    TE <= 30 ms; PD: TR >= 2000 ms and TE <= 40 ms). A T1 with a contrast agent in
    ContrastBolusAgent or a contrast word in the description is T1C.
    """
    ti = inversion_time or 0.0
    inversion = "IR" in scanning_sequence.upper().split("\\") or ti > 0
    if _matches(rules.stir, description) or (inversion and 0 < ti <= rules.stir_max_inversion_ms):
        return SequenceType.STIR
    if inversion and ti >= rules.flair_min_inversion_ms or "FLAIR" in description.upper():
        return SequenceType.FLAIR
    kind = SequenceType.OTHER
    if _matches(rules.t2, description):
        kind = SequenceType.T2
    elif _matches(rules.t1, description):
        kind = SequenceType.T1
    elif _matches(rules.pd, description):
        kind = SequenceType.PD
    elif echo_time is not None and repetition_time is not None:
        if echo_time >= 60:
            kind = SequenceType.T2
        elif repetition_time <= 1000 and echo_time <= 30:
            kind = SequenceType.T1
        elif repetition_time >= 2000 and echo_time <= 40:
            kind = SequenceType.PD
    contrast = bool(contrast_agent.strip()) or _matches(rules.contrast, description)
    if kind is SequenceType.T1 and contrast:
        return SequenceType.T1C
    return kind
