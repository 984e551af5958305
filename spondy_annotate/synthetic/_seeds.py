"""Seeded randomness of the synthetic export: every draw derives from the seed and a few labels.

Hashing ``(seed, labels...)`` gives each patient, study and file its own generator, so adding a
patient or a series does not change what the others look like.
"""

from __future__ import annotations

import hashlib

import numpy as np

_ALNUM = np.array(list("ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"))


def seed_key(*parts: object) -> int:
    """A 64-bit integer from the text of ``parts`` (stable across runs and platforms)."""
    digest = hashlib.sha256("|".join(map(str, parts)).encode()).digest()
    return int.from_bytes(digest[:8], "little")


def seeded_rng(*parts: object) -> np.random.Generator:
    """A generator seeded with :func:`seed_key` of ``parts``."""
    return np.random.default_rng(seed_key(*parts))


def random_name(rng: np.random.Generator) -> str:
    """Eight random capitals and digits, like the file and folder names of a PACS export."""
    return "".join(rng.choice(_ALNUM, 8))
