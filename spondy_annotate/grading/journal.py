"""The local journal: answers taken while the grading server was unreachable, until sent.

When the PostgreSQL server of a shared grading database cannot be reached (a network drop, a
restart), :class:`~spondy_annotate.grading.session.GradingSession` keeps each answer given on
screen here (and a reading session begun meanwhile, e.g. a repeat read's): one JSON line each,
flushed to disk (``fsync``) before the answer counts as saved. The journal is a file in the
user's data folder (``platformdirs.user_data_dir``; not the cache folder, which may be cleared),
one per server (its URL without password) and reader. Its answers are sent in order when the server is back; each carries the
UUID it was given on screen, and the server stores an answer of a known UUID only once, so a
journal sent twice (the reply to the commit was lost, the application was closed before the
journal was emptied) adds nothing twice.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import os
from pathlib import Path

from platformdirs import user_data_dir

from spondy_annotate._files import fsync_folder
from spondy_annotate.errors import StoreError
from spondy_annotate.grading.rubric_toml import parse_rubric
from spondy_annotate.grading.store import Answer, Session, answer_value, json_value

logger = logging.getLogger(__name__)


def journal_path(database: str, reader: str) -> Path:
    """The journal of ``reader``'s answers to ``database`` (a URL without password)."""
    digest = hashlib.sha256(f"{database}\0{reader}".encode()).hexdigest()[:24]
    return Path(user_data_dir("spondy_annotate", appauthor=False)) / "journal" / f"{digest}.jsonl"


#: What a journal keeps: answers, and the sessions they were given in.
Entry = Answer | Session


class Journal:
    """Answers (and sessions) not yet on the server, kept in the file ``path``."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._entries = self._read()

    @property
    def entries(self) -> list[Entry]:
        """The sessions and answers kept, oldest first."""
        return list(self._entries)

    @property
    def answers(self) -> list[Answer]:
        """The answers kept, oldest first."""
        return [e for e in self._entries if isinstance(e, Answer)]

    def append(self, entry: Entry) -> None:
        """Keep an answer or a session durably (on disk when this returns).

        Raises
        ------
        StoreError
            If the journal cannot be written (the answer is then not saved anywhere).
        """
        data = {f.name: getattr(entry, f.name) for f in dataclasses.fields(entry)}
        if isinstance(entry, Answer):
            data["value"] = json_value(entry.value)
        else:
            data["rubric"] = entry.rubric.text
            data["settings"] = dict(entry.settings)
        line = json.dumps({"kind": type(entry).__name__, **data}, ensure_ascii=False) + "\n"
        try:
            new = not self.path.exists()
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with open(self.path, "a", encoding="utf-8") as handle:
                handle.write(line)
                handle.flush()
                os.fsync(handle.fileno())
            if new:
                fsync_folder(self.path.parent)
        except OSError as exc:
            raise StoreError(
                f"{self.path}: cannot keep the answer ({exc.strerror or exc})"
            ) from None
        self._entries.append(entry)

    def clear(self) -> None:
        """Forget everything kept (once the server has every entry)."""
        try:
            self.path.unlink(missing_ok=True)
            fsync_folder(self.path.parent)
        except OSError as exc:
            raise StoreError(
                f"{self.path}: cannot empty the journal ({exc.strerror or exc})"
            ) from None
        self._entries = []

    def _read(self) -> list[Entry]:
        """The entries in the file; a last line cut short by a crash was never saved: skipped."""
        try:
            lines = self.path.read_text(encoding="utf-8").splitlines()
        except FileNotFoundError:
            return []
        except OSError as exc:
            raise StoreError(f"{self.path}: unreadable journal ({exc.strerror or exc})") from None
        entries: list[Entry] = []
        for number, line in enumerate(lines, start=1):
            try:
                data = json.loads(line)
            except json.JSONDecodeError:
                if number == len(lines):
                    logger.warning(
                        "%s: last line incomplete (a crash while writing); skipped", self.path
                    )
                    break
                raise StoreError(f"{self.path}:{number}: damaged journal line") from None
            if data.pop("kind") == "Session":
                rubric = parse_rubric(data.pop("rubric"), source=f"{self.path}:{number}")
                entries.append(Session(**data, rubric=rubric))
            else:
                entries.append(Answer(**{**data, "value": answer_value(data["value"])}))
        return entries
