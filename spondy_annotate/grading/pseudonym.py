"""Stable case pseudonyms: a keyed hash (HMAC-SHA256) of the patient ID and the two study UIDs.

The key (salt) is random, created once per grading database and stored in it, so a pseudonym
cannot be recomputed or reversed without the database, and the same patient gets unrelated
pseudonyms in two databases.

Examples
--------
>>> salt = new_salt()
>>> p = case_pseudonym(salt, "PAT001", "1.2.3", "1.2.4")
>>> p.startswith("C-") and len(p) == 8
True
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets

#: Number of hex digits of a new pseudonym (16.7 million values); grown on a collision.
DEFAULT_LENGTH = 6
#: Prefix of every case pseudonym.
PREFIX = "C-"


def new_salt() -> str:
    """Return a new random 256-bit key, hex encoded."""
    return secrets.token_hex(32)


def case_pseudonym(
    salt: str,
    patient_id: str,
    baseline_study_uid: str,
    followup_study_uid: str,
    *,
    length: int = DEFAULT_LENGTH,
) -> str:
    """Return the pseudonym of a case, e.g. ``"C-7F3A91"``.

    Parameters
    ----------
    salt
        The database's secret key (:func:`new_salt`).
    patient_id, baseline_study_uid, followup_study_uid
        What identifies the case. They are JSON-encoded as a list before hashing, so no
        choice of separator can make two different cases hash the same input.
    length
        Number of hex digits (2 to 64); the caller uses a longer one after a collision.

    Returns
    -------
    str
        ``"C-"`` followed by ``length`` upper-case hex digits.
    """
    if not 2 <= length <= 64:
        raise ValueError(f"length must be between 2 and 64, got {length}")
    message = json.dumps([patient_id, baseline_study_uid, followup_study_uid]).encode("utf-8")
    digest = hmac.new(bytes.fromhex(salt), message, hashlib.sha256).hexdigest()
    return PREFIX + digest[:length].upper()
