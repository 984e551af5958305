"""Stable case pseudonyms: a keyed hash (HMAC-SHA256) of the patient ID and the two study UIDs.

The key (salt) is random, created once per grading database and stored in it, so a pseudonym
cannot be recomputed or reversed without the database, and the same patient gets unrelated
pseudonyms in two databases, unless they share the key: a key file (:func:`write_key_file`,
:func:`read_key_file`) carries it from one project database to another, so that two readers
grading the same export in two databases give each patient the same case ID. The key file is
secret: with it and the patient IDs the pseudonyms can be recomputed.

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
import os
import re
import secrets
from collections.abc import Callable
from pathlib import Path

from spondy_annotate._files import atomic_write
from spondy_annotate.errors import StoreError

#: Number of hex digits of a new pseudonym (16.7 million values); grown on a collision.
DEFAULT_LENGTH = 6
#: Prefix of every case pseudonym.
PREFIX = "C-"
#: ``format`` of a key file (:func:`write_key_file`).
KEY_FILE_FORMAT = "spondy-annotate pseudonym key"
_KEY = re.compile(r"[0-9a-f]{64}")


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


def new_case_id(salt: str, ids: tuple[str, str, str], taken: Callable[[str], bool]) -> str:
    """The pseudonym of a new case: :func:`case_pseudonym`, lengthened while ``taken`` says so."""
    length = DEFAULT_LENGTH
    case_id = case_pseudonym(salt, *ids, length=length)
    while taken(case_id):
        length += 2
        case_id = case_pseudonym(salt, *ids, length=length)
    return case_id


def write_key_file(path: str | os.PathLike[str], key: str) -> Path:
    """Write the pseudonym ``key`` to a new JSON file readable by its owner only.

    Raises
    ------
    StoreError
        If the file exists (a key is never overwritten) or cannot be written.
    """
    path = Path(path)
    if path.exists():
        raise StoreError(f"{path}: exists; a key file is never overwritten")
    text = json.dumps({"format": KEY_FILE_FORMAT, "version": 1, "key": key}, indent=2) + "\n"

    def write(tmp: Path) -> None:
        tmp.write_text(text, encoding="utf-8")
        tmp.chmod(0o600)

    try:
        return atomic_write(path, write)
    except OSError as exc:
        raise StoreError(f"{path}: cannot write the key ({exc.strerror or exc})") from None


def read_key_file(path: str | os.PathLike[str]) -> str:
    """The pseudonym key of a file written by :func:`write_key_file`.

    Raises
    ------
    StoreError
        If the file is missing, unreadable or not a key file.
    """
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise StoreError(f"{path}: cannot read the key file ({exc.strerror or exc})") from None
    except ValueError:
        data = None
    key = data.get("key") if isinstance(data, dict) else None
    if (
        not isinstance(data, dict)
        or data.get("format") != KEY_FILE_FORMAT
        or not isinstance(key, str)
        or not _KEY.fullmatch(key)
    ):
        raise StoreError(f"{path}: not a spondy-annotate pseudonym key file")
    return key
