"""Cases: each patient's baseline and follow-up study, and the series shown side by side.

Studies are ordered by date and time; the earliest is the baseline and the next the follow-up.
A patient with more than two studies is never paired silently: the case waits for a choice
(``choices`` here, ``--choose`` on the command line). A patient with one study is incomplete.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import Enum
from typing import TYPE_CHECKING

from spondy_annotate._dates import parse_date
from spondy_annotate.dicom.records import SeriesRecord
from spondy_annotate.dicom.rules import MatchingRules, ProtocolEntry, load_rules
from spondy_annotate.errors import CaseSelectionError

if TYPE_CHECKING:
    import pandas as pd


class CaseStatus(str, Enum):
    """Whether a case can be read."""

    READY = "ready"
    """Baseline and follow-up chosen; the pairs can be shown side by side."""
    INCOMPLETE = "incomplete"
    """The patient has a single study: nothing to compare."""
    NEEDS_CHOICE = "needs choice"
    """More than two studies: the user must say which two to compare."""


@dataclass(frozen=True)
class Study:
    """One study (one MRI visit) of a patient."""

    study_instance_uid: str
    date: dt.date | None
    time: str
    description: str
    series: tuple[SeriesRecord, ...]

    @property
    def date_text(self) -> str:
        """The study date as ISO text, or ``"unknown date"``."""
        return self.date.isoformat() if self.date else "unknown date"


@dataclass(frozen=True)
class SeriesPair:
    """A place of the hanging protocol and the series each study shows there."""

    entry: ProtocolEntry
    baseline: SeriesRecord | None
    followup: SeriesRecord | None

    @property
    def label(self) -> str:
        """For example ``"SAG STIR"``."""
        return self.entry.label


@dataclass(frozen=True)
class Case:
    """One patient's baseline/follow-up comparison."""

    patient_id: str
    studies: tuple[Study, ...]
    status: CaseStatus
    baseline: Study | None = None
    followup: Study | None = None
    pairs: tuple[SeriesPair, ...] = ()

    @property
    def interval_days(self) -> int | None:
        """Days from baseline to follow-up, when both dates are known."""
        if self.baseline and self.followup and self.baseline.date and self.followup.date:
            return (self.followup.date - self.baseline.date).days
        return None


def _study_date(text: str) -> dt.date | None:
    """The StudyDate (DICOM ``YYYYMMDD``), or None when it is empty or invalid."""
    try:
        return parse_date(text)
    except ValueError:
        return None


def _studies(series: list[SeriesRecord]) -> tuple[Study, ...]:
    """One patient's series grouped into studies, in date and time order."""
    by_study: dict[str, list[SeriesRecord]] = defaultdict(list)
    for record in series:
        by_study[record.study_instance_uid].append(record)
    studies = [
        Study(
            study_instance_uid=uid,
            date=_study_date(group[0].study_date),
            time=group[0].study_time,
            description=group[0].study_description,
            series=tuple(group),
        )
        for uid, group in by_study.items()
    ]
    return tuple(
        sorted(studies, key=lambda s: (s.date or dt.date.max, s.time, s.study_instance_uid))
    )


def _best(series: tuple[SeriesRecord, ...], entry: ProtocolEntry) -> SeriesRecord | None:
    candidates = [
        s
        for s in series
        if s.orientation == entry.orientation
        and s.sequence == entry.sequence.value
        and s.volumes >= 1
    ]
    # Most images first (a full stack beats a repeat of a few slices), then the later series.
    return max(candidates, key=lambda s: (s.num_images, s.series_number or 0), default=None)


def match_series(baseline: Study, followup: Study, rules: MatchingRules) -> tuple[SeriesPair, ...]:
    """Pair the two studies' series by the hanging protocol (same orientation and sequence)."""
    pairs = []
    for entry in rules.protocol:
        base, follow = _best(baseline.series, entry), _best(followup.series, entry)
        if base or follow:
            pairs.append(SeriesPair(entry, base, follow))
    return tuple(pairs)


def _pick(studies: tuple[Study, ...], key: str, patient_id: str) -> Study:
    for n, study in enumerate(studies, start=1):
        if key in (study.study_instance_uid, study.date_text, str(n)):
            return study
    options = ", ".join(f"{n}={s.date_text}" for n, s in enumerate(studies, start=1))
    raise CaseSelectionError(f"patient {patient_id}: no study {key!r} (studies: {options})")


def find_cases(
    series: pd.DataFrame | Iterable[SeriesRecord],
    *,
    choices: Mapping[str, tuple[str, str]] | None = None,
    rules: MatchingRules | None = None,
) -> list[Case]:
    """Group the index's series table into cases.

    Parameters
    ----------
    series : pandas.DataFrame or iterable of SeriesRecord
        The index's series: :attr:`IndexResult.series
        <spondy_annotate.dicom.index.IndexResult.series>` or :attr:`IndexResult.records
        <spondy_annotate.dicom.index.IndexResult.records>`.
    choices : mapping, optional
        ``{patient_id: (baseline, followup)}`` for patients with more than two studies (or to
        override the default); each side is a StudyInstanceUID, an ISO date or a 1-based number
        in date order.
    rules : MatchingRules, optional
        The hanging protocol (default: built-in ``matching.toml``).

    Returns
    -------
    list of Case
        One per patient, in patient order.

    Raises
    ------
    CaseSelectionError
        When a choice names a patient or study that is not there.
    """
    rules = rules or load_rules()
    choices = dict(choices or {})
    if hasattr(series, "to_dict"):  # a DataFrame
        series = [SeriesRecord.from_row(row) for row in series.to_dict("records")]
    by_patient: dict[str, list[SeriesRecord]] = defaultdict(list)
    for record in series:
        by_patient[record.patient_id].append(record)
    cases = []
    for pid in sorted(by_patient):
        studies = _studies(by_patient[pid])
        if pid in choices:
            base_key, follow_key = choices.pop(pid)
            base, follow = _pick(studies, base_key, pid), _pick(studies, follow_key, pid)
            if base is follow:
                raise CaseSelectionError(
                    f"patient {pid}: baseline and follow-up are the same study"
                )
            if base.date and follow.date and follow.date < base.date:
                raise CaseSelectionError(f"patient {pid}: the follow-up is before the baseline")
        elif len(studies) == 1:
            cases.append(Case(pid, studies, CaseStatus.INCOMPLETE))
            continue
        elif len(studies) > 2:
            cases.append(Case(pid, studies, CaseStatus.NEEDS_CHOICE))
            continue
        else:
            base, follow = studies
        pairs = match_series(base, follow, rules)
        cases.append(Case(pid, studies, CaseStatus.READY, base, follow, pairs))
    if choices:
        raise CaseSelectionError(f"no patient {next(iter(choices))!r} in the index")
    return cases
