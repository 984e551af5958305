"""The local journal: answers taken while the grading server was unreachable, until sent.

When the PostgreSQL server of a shared grading database cannot be reached (a network drop, a
restart), :class:`~spondy_annotate.grading.session.GradingSession` keeps each answer given on
screen here: one JSON line per answer, flushed to disk (``fsync``) before the answer counts as
saved. The journal is a file in the user's cache folder, one per server (its URL without
password) and reader. Its answers are sent in order when the server is back; each carries the
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

from platformdirs import user_cache_dir

from spondy_annotate._files import fsync_folder
from spondy_annotate.errors import StoreError
from spondy_annotate.grading.store import Answer, answer_value, json_value

logger = logging.getLogger(__name__)


def journal_path(database: str, reader: str) -> Path:
    """The journal of ``reader``'s answers to ``database`` (a URL without password)."""
    digest = hashlib.sha256(f"{database}\0{reader}".encode()).hexdigest()[:24]
    return Path(user_cache_dir("spondy_annotate", appauthor=False)) / "journal" / f"{digest}.jsonl"


class Journal:
    """Answers not yet on the server, kept in the file ``path`` (created on first use)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._answers = self._read()

    def __len__(self) -> int:
        return len(self._answers)

    @property
    def answers(self) -> list[Answer]:
        """The pending answers, oldest first."""
        return list(self._answers)

    def append(self, answer: Answer) -> None:
        """Keep ``answer`` durably (on disk when this returns).

        Raises
        ------
        StoreError
            If the journal cannot be written (the answer is then not saved anywhere).
        """
        data = {f.name: getattr(answer, f.name) for f in dataclasses.fields(answer)}
        data["value"] = json_value(answer.value)
        line = json.dumps(data, ensure_ascii=False) + "\n"
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
        self._answers.append(answer)

    def clear(self) -> None:
        """Forget the pending answers (once the server has every one of them)."""
        try:
            self.path.unlink(missing_ok=True)
            fsync_folder(self.path.parent)
        except OSError as exc:
            raise StoreError(
                f"{self.path}: cannot empty the journal ({exc.strerror or exc})"
            ) from None
        self._answers = []

    def _read(self) -> list[Answer]:
        """The answers in the file; a last line cut short by a crash was never saved: skipped."""
        try:
            lines = self.path.read_text(encoding="utf-8").splitlines()
        except FileNotFoundError:
            return []
        except OSError as exc:
            raise StoreError(f"{self.path}: unreadable journal ({exc.strerror or exc})") from None
        answers = []
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
            answers.append(Answer(**{**data, "value": answer_value(data["value"])}))
        return answers
