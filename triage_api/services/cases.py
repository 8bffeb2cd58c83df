"""Cases: a review task decided illegal, escalated to the police with its evidence.

Opening a case is cheap (it runs inside the deciding vote's transaction): the item is frozen in
``item_snapshot`` and the job ``cases.build_evidence`` seals the evidence bundle after commit,
then records the webhook delivery.

Lifecycle::

    (task decided illegal) ──open_case──▶ new ──acknowledge──▶ acknowledged ──set_outcome──▶ closed
                                           ╰─────────────set_outcome (acknowledges too)────────╯

A closed case may get a corrected outcome; every change is in the audit log. The outcome flows
back to the volunteers who voted illegal (``volunteer_outcomes``) and into training labels
(``training_labels``): police finding "not illegal" turns the label to legal.
"""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from saqshy import metrics
from saqshy.db.models import Case, CaseOutcome, CaseStatus, ContentItem, ReviewTask, TaskStatus, Verdict, Vote
from saqshy.errors import ErrorCode, InvalidInput, InvalidTransition, NotFound
from saqshy.jobs import names
from saqshy.jobs.base import enqueue_after_commit
from saqshy.services import sources
from saqshy.settings import Settings
from saqshy.timeutil import utcnow
from triage_api.services import evidence, webhooks
from triage_api.services.audit import append_audit

UNKNOWN_CATEGORY = "unknown"
JOB_BUILD_EVIDENCE = names.BUILD_EVIDENCE


def evidence_job_key(case_id: int) -> str:
    return f"{JOB_BUILD_EVIDENCE}:{case_id}"


def open_case(session: Session, task: ReviewTask, settings: Settings, actor_id: int | None) -> Case:
    """Escalate a task decided illegal: the case, with the item frozen as it was reviewed.

    Idempotent: a task has at most one case, and calling this again returns it unchanged. Runs in
    the caller's transaction (the caller commits); after commit the job ``cases.build_evidence``
    seals the signed bundle, rolls the case up to its source and sends the webhook.
    """
    existing = session.scalars(select(Case).where(Case.task_id == task.id)).one_or_none()
    if existing is not None:
        return existing
    if task.status != TaskStatus.DECIDED or task.decision != Verdict.ILLEGAL:
        raise InvalidTransition(
            f"task {task.id} is {task.status} with decision {task.decision}: only a task decided illegal "
            "becomes a case",
            task_id=task.id,
        )
    item = session.get(ContentItem, task.item_id)
    if item is None:
        raise NotFound(f"task {task.id} refers to a missing item {task.item_id}")
    case = Case(
        task_id=task.id,
        item_id=task.item_id,
        category=task.decided_category or task.category or UNKNOWN_CATEGORY,
        status=CaseStatus.NEW,
        item_snapshot=evidence.item_snapshot(item),
        created_at=utcnow(),
    )
    try:
        # A savepoint, so losing a race for the same task (PostgreSQL) leaves the caller's
        # transaction usable and returns the winner's case.
        with session.begin_nested():
            session.add(case)
            session.flush()
    except IntegrityError:
        winner = session.scalars(select(Case).where(Case.task_id == task.id)).one_or_none()
        if winner is None:
            raise
        return winner
    # The bundle (ZIP, signature, disk), the webhook and the source's roll-up come after commit, in
    # a job: the deciding vote's transaction (and its claim-and-vote latency) stays short.
    enqueue_after_commit(session, JOB_BUILD_EVIDENCE, {"case_id": case.id}, key=evidence_job_key(case.id))
    metrics.after_commit(session, metrics.CASES_OPENED.labels(category=case.category).inc)
    append_audit(
        session,
        actor_id=actor_id,
        action="case.opened",
        entity_type="case",
        entity_id=case.id,
        payload={
            "task_id": task.id,
            "item_id": task.item_id,
            "category": case.category,
            "item_sha256": item.sha256,
            "text_sha256": item.text_sha256,
        },
    )
    return case


def ensure_evidence(session: Session, case_id: int, settings: Settings) -> Case:
    """Build and store the case's bundle if it has none yet, then record its webhook delivery.

    Idempotent; the case row is locked so a download and the job never build it twice at once.
    The first sealing also rolls the new case up to its source.
    """
    case = _lock_case(session, case_id)
    if case.evidence_path is None:
        _refresh_source(session, case, settings, None)
        evidence.store_bundle(session, case, settings)
        session.flush()
        append_audit(
            session,
            actor_id=None,
            action="case.evidence_sealed",
            entity_type="case",
            entity_id=case.id,
            payload={"evidence_sha256": case.evidence_sha256},
        )
    webhooks.create_delivery(session, case, settings)
    return case


def unsealed_case_ids(session: Session, *, limit: int = 1000) -> list[int]:
    return list(session.scalars(select(Case.id).where(Case.evidence_path.is_(None)).order_by(Case.id).limit(limit)))


def evidence_bundle(session: Session, case_id: int, settings: Settings) -> tuple[Case, bytes]:
    """The case's bundle, built now if the job has not run yet."""
    case = get_case(session, case_id)
    if case.evidence_path is None:
        case = ensure_evidence(session, case_id, settings)
    return case, evidence.read_bundle(case, settings)


def _refresh_source(session: Session, case: Case, settings: Settings, actor_id: int | None) -> None:
    # The source's risk counts confirmed items: a new case or a police outcome changes it.
    source_id = session.scalar(select(ContentItem.source_id).where(ContentItem.id == case.item_id))
    if source_id is not None:
        sources.refresh_source_risk(session, settings, [source_id], actor_id=actor_id)


def get_case(session: Session, case_id: int) -> Case:
    case = session.get(Case, case_id)
    if case is None:
        raise NotFound(f"case {case_id} does not exist", case_id=case_id, code=ErrorCode.CASE_NOT_FOUND,
                       params={"id": case_id})
    return case


def list_cases(
    session: Session,
    *,
    status: CaseStatus | None = None,
    outcome: CaseOutcome | None = None,
    category: str | None = None,
    offset: int = 0,
    limit: int = 50,
) -> tuple[list[Case], int]:
    """Newest first, with the total count for pagination."""
    query = select(Case)
    if status is not None:
        query = query.where(Case.status == status)
    if outcome is not None:
        query = query.where(Case.outcome == outcome)
    if category is not None:
        query = query.where(Case.category == category)
    total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
    rows = session.scalars(query.order_by(Case.created_at.desc(), Case.id.desc()).offset(offset).limit(limit))
    return list(rows), int(total)


def _lock_case(session: Session, case_id: int) -> Case:
    case = session.scalars(select(Case).where(Case.id == case_id).with_for_update()).one_or_none()
    if case is None:
        raise NotFound(f"case {case_id} does not exist", case_id=case_id, code=ErrorCode.CASE_NOT_FOUND,
                       params={"id": case_id})
    return case


def acknowledge_case(session: Session, case_id: int, actor_id: int) -> Case:
    """The police have seen the case. Only a new case can be acknowledged (409 otherwise)."""
    case = _lock_case(session, case_id)
    if case.status != CaseStatus.NEW:
        raise InvalidTransition(f"case {case_id} is already {case.status}", case_id=case_id, status=case.status,
                                code=ErrorCode.CASE_ALREADY, params={"id": case_id, "status": case.status.value})
    case.status = CaseStatus.ACKNOWLEDGED
    case.acknowledged_by_id = actor_id
    case.acknowledged_at = utcnow()
    session.flush()
    append_audit(
        session, actor_id=actor_id, action="case.acknowledged", entity_type="case", entity_id=case.id, payload={}
    )
    return case


def set_outcome(
    session: Session,
    case_id: int,
    actor_id: int,
    outcome: CaseOutcome,
    settings: Settings,
    note: str | None = None,
) -> Case:
    """Close the case with the police outcome (acknowledging it if needed); a later call corrects it."""
    case = _lock_case(session, case_id)
    previous = case.outcome
    if previous == outcome and (note is None or note == case.outcome_note):
        return case  # a repeated request changes nothing
    now = utcnow()
    if case.acknowledged_at is None:
        case.acknowledged_at = now
        case.acknowledged_by_id = actor_id
    case.status = CaseStatus.CLOSED
    case.outcome = outcome
    case.outcome_note = note
    case.outcome_at = now
    session.flush()
    _refresh_source(session, case, settings, actor_id)
    append_audit(
        session,
        actor_id=actor_id,
        action="case.outcome_set",
        entity_type="case",
        entity_id=case.id,
        payload={"outcome": outcome.value, "previous": previous.value if previous else None, "note": note},
    )
    return case


# --- outcomes for volunteers ------------------------------------------------------------------


class VolunteerOutcome(BaseModel):
    """What became of a case a volunteer helped confirm (``VolunteerOutcomePublic`` is its API shape)."""

    model_config = ConfigDict(frozen=True)

    case_id: int
    task_id: int
    item_id: int
    category: str
    status: CaseStatus
    outcome: CaseOutcome | None
    outcome_at: datetime | None
    offline_at: datetime | None
    opened_at: datetime
    voted_at: datetime


def volunteer_outcomes(
    session: Session, user_id: int, *, offset: int = 0, limit: int = 50
) -> tuple[list[VolunteerOutcome], int]:
    """Cases a volunteer helped confirm (voted illegal on), newest first: what became of them.

    The police's free-text note is not included: it may name suspects or investigations.
    """
    query = (
        select(Case, Vote.created_at)
        .join(Vote, Vote.task_id == Case.task_id)
        .where(Vote.user_id == user_id, Vote.verdict == Verdict.ILLEGAL)
    )
    total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
    rows = session.execute(query.order_by(Case.created_at.desc(), Case.id.desc()).offset(offset).limit(limit)).all()
    return [
        VolunteerOutcome(
            case_id=case.id,
            task_id=case.task_id,
            item_id=case.item_id,
            category=case.category,
            status=case.status,
            outcome=case.outcome,
            outcome_at=case.outcome_at,
            offline_at=case.offline_at,
            opened_at=case.created_at,
            voted_at=voted_at,
        )
        for case, voted_at in rows
    ], int(total)


# --- training labels --------------------------------------------------------------------------


class TrainingLabel(BaseModel):
    """A decided task as a label for retraining (``TrainingLabelPublic`` is its API shape)."""

    model_config = ConfigDict(frozen=True)

    task_id: int
    item_id: int
    language: str
    text: str
    label: Verdict
    category: str | None
    # "consensus" (volunteers and moderators) or "police" (a case outcome overrode or confirmed it).
    label_source: str
    is_gold: bool
    is_exploration: bool
    decided_at: datetime | None
    case_outcome: CaseOutcome | None


def label_for(decision: Verdict, outcome: CaseOutcome | None) -> tuple[Verdict, str]:
    """The training label of a decided task, once the police outcome is known."""
    if outcome == CaseOutcome.NOT_ILLEGAL:
        return Verdict.LEGAL, "police"
    if outcome in (CaseOutcome.TAKEDOWN_REQUESTED, CaseOutcome.CRIMINAL_CASE_OPENED):
        return Verdict.ILLEGAL, "police"
    return decision, "consensus"


def training_labels(
    session: Session,
    *,
    after_task_id: int = 0,
    limit: int = 500,
    language: str | None = None,
    decided_since: datetime | None = None,
) -> list[TrainingLabel]:
    """Decided tasks as labels for retraining, in task id order (page with ``after_task_id``).

    Only illegal and legal decisions are labels; ``unsure`` ones carry no information to learn.
    """
    if limit < 1:
        raise InvalidInput("limit must be at least 1")
    query = (
        select(ReviewTask, ContentItem.language, ContentItem.text, Case.outcome)
        .join(ContentItem, ContentItem.id == ReviewTask.item_id)
        .outerjoin(Case, Case.task_id == ReviewTask.id)
        .where(
            ReviewTask.status == TaskStatus.DECIDED,
            ReviewTask.decision.in_([Verdict.ILLEGAL, Verdict.LEGAL]),
            ReviewTask.id > after_task_id,
        )
        .order_by(ReviewTask.id)
        .limit(limit)
    )
    if language is not None:
        query = query.where(ContentItem.language == language)
    if decided_since is not None:
        query = query.where(ReviewTask.decided_at >= decided_since)
    labels: list[TrainingLabel] = []
    for task, item_language, text, outcome in session.execute(query):
        assert task.decision is not None
        label, label_source = label_for(task.decision, outcome)
        labels.append(
            TrainingLabel(
                task_id=task.id,
                item_id=task.item_id,
                language=item_language,
                text=text,
                label=label,
                category=(task.decided_category or task.category) if label == Verdict.ILLEGAL else None,
                label_source=label_source,
                is_gold=task.is_gold,
                is_exploration=task.is_exploration,
                decided_at=task.decided_at,
                case_outcome=outcome,
            )
        )
    return labels
