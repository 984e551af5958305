"""The adjudication round: the readers' disagreements by the study's rule, and their consensus.

:func:`disagreements` compares the current answers of the study's readers case by case and item
by item (:class:`~spondy_annotate.grading.study.AdjudicationRule`: a different change
judgement, grades more than N apart, measurements more than X mm apart). Those not yet settled
form the :func:`adjudication_queue`; :func:`settle` records the adjudicator's consensus answers
as the reader :data:`~spondy_annotate.grading.readings.CONSENSUS_READER`, append-only, each
linked to the readers' answers it settles
(:meth:`~spondy_annotate.grading.store.Store.record_consensus`). The export carries the
consensus rows like any reader's; the analysis takes them as the primary reading.

Examples
--------
>>> queue = adjudication_queue(store, study, rubric)                   # doctest: +SKIP
>>> settle(store, consensus_session, queue[0], {"marrow_edema.change": "improved"})  # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from spondy_annotate.grading.readings import CONSENSUS_READER
from spondy_annotate.grading.rubric import ItemType, Measurement, Rubric
from spondy_annotate.grading.store import Answer, Session, Store
from spondy_annotate.grading.study import AdjudicationRule, Study

__all__ = ["Disagreement", "adjudication_queue", "disagreements", "settle"]


@dataclass(frozen=True)
class Disagreement:
    """The readers' disagreement on one item of one case.

    Attributes
    ----------
    case_id, item
        Where.
    fields
        The disputed field keys (``"marrow_edema.change"``, ``"disc_height.baseline_mm"``...).
    reasons
        Why, in words (``"change: improved / aggravated"``).
    answers
        The readers' current answers to the disputed fields (what a consensus settles).
    settled
        Whether the consensus has answered every disputed field.
    """

    case_id: str
    item: str
    fields: tuple[str, ...]
    reasons: tuple[str, ...]
    answers: tuple[Answer, ...]
    settled: bool


def disagreements(store: Store, study: Study, rubric: Rubric) -> list[Disagreement]:
    """Every disagreement of the study's readers (settled or not), by case and rubric item."""
    rule = study.rule
    current: dict[tuple[str, str], list[Answer]] = {}
    for a in store.latest_answers(readers=study.readers, rubric_name=rubric.name):
        if a.value is not None:
            current.setdefault((a.case_id, a.key), []).append(a)
    consensus = {
        (a.case_id, a.key)
        for a in store.latest_answers(readers=[CONSENSUS_READER], rubric_name=rubric.name)
        if a.value is not None
    }
    items = [it for it in rubric.items if not rule.items or it.id in rule.items]
    found = []
    for case_id in sorted({case for case, _ in current}):
        for item in items:
            disputed = [
                (key, reason)
                for key, limit in _checks(item.id, item.type, rule)
                if (reason := _dispute(key, current.get((case_id, key), []), limit))
            ]
            if disputed:
                keys = tuple(key for key, _ in disputed)
                found.append(
                    Disagreement(
                        case_id=case_id,
                        item=item.id,
                        fields=keys,
                        reasons=tuple(reason for _, reason in disputed),
                        answers=tuple(a for key in keys for a in current[(case_id, key)]),
                        settled=all((case_id, key) in consensus for key in keys),
                    )
                )
    return found


def adjudication_queue(store: Store, study: Study, rubric: Rubric) -> list[Disagreement]:
    """The disagreements not settled yet, by case ID and rubric item order."""
    return [d for d in disagreements(store, study, rubric) if not d.settled]


def settle(
    store: Store, session: Session, disagreement: Disagreement, values: Mapping[str, object]
) -> list[Answer]:
    """Record the consensus ``{field key: value}`` of a disagreement; return the answers stored.

    Each value is linked to the readers' answers of its field. Fields outside the
    disagreement's item may not be given.

    Raises
    ------
    ValueError
        A field of another item, a value the rubric does not allow, or a session that is not
        the consensus reader's.
    """
    stored = []
    for key, value in values.items():
        if not key.startswith(f"{disagreement.item}."):
            raise ValueError(f"{key}: not a field of {disagreement.item}")
        settles = [a.answer_id for a in disagreement.answers if a.key == key]
        stored.append(store.record_consensus(session, disagreement.case_id, key, value, settles))
    return stored


def _checks(item: str, kind: ItemType, rule: AdjudicationRule) -> list[tuple[str, float | None]]:
    """``(field key, limit)``: a limit of None means any difference."""
    checks: list[tuple[str, float | None]] = []
    if rule.change_differs:
        checks.append((f"{item}.change", None))
    if rule.grades_apart is not None:
        checks += [(f"{item}.{tp}", rule.grades_apart) for tp in ("baseline", "followup")]
    if rule.disc_height_mm_apart is not None and kind is ItemType.MEASUREMENT:
        checks += [
            (f"{item}.{tp}_mm", rule.disc_height_mm_apart) for tp in ("baseline", "followup")
        ]
    return checks


def _dispute(key: str, answers: list[Answer], limit: float | None) -> str:
    """Why the readers' answers to ``key`` disagree, or ``""`` when they do not."""
    if len({a.reader for a in answers}) < 2:
        return ""
    values = [a.value.mm if isinstance(a.value, Measurement) else a.value for a in answers]
    if limit is None:
        if len(set(values)) < 2:
            return ""
        return f"{key}: " + " / ".join(
            f"{a.reader} {v}" for a, v in zip(answers, values, strict=True)
        )
    numbers = [float(v) for v in values if isinstance(v, (int, float))]
    spread = max(numbers) - min(numbers)
    if spread <= limit:
        return ""
    return f"{key}: {spread:g} apart (more than {limit:g})"
