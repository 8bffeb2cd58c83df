"""Blind votes, the consensus rule, moderator resolution and gold tasks.

The rule (all from settings): a task is decided when its leading answer (the verdict, plus the
category for "illegal") gathers ``triage_votes_needed`` votes, or that much weight when
``triage_weight_by_accuracy`` is on; an "unsure" vote sends it to a moderator (unless
``triage_unsure_to_moderator`` is off); after ``triage_max_votes`` votes without a decision it goes
to a moderator too. Defaults: two agreeing votes decide, any disagreement goes to a moderator.

Gold tasks carry a known answer: they are never decided, every volunteer may answer each once,
and the answers measure each volunteer's accuracy.
"""

from __future__ import annotations

import logging
import time
from collections import defaultdict
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, cast

from sqlalchemy import Table, bindparam, exists, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, make_transient_to_detached

from saqshy import metrics
from saqshy.db.models import ContentItem, ReviewTask, Role, TaskStatus, User, Verdict, Vote
from saqshy.errors import Conflict, ErrorCode, InvalidInput, InvalidTransition, NotFound
from saqshy.services.items import mark_for_reindex
from saqshy.settings import Settings
from saqshy.timeutil import as_utc, utcnow
from triage_api.services import cases, queue, reposts, review_reads, users
from triage_api.services.audit import append_audit
from triage_api.services.auth import Actor

log = logging.getLogger(__name__)

MAX_NOTE_CHARS = 2000
_EPSILON = 1e-9


@dataclass(frozen=True)
class Ballot:
    verdict: Verdict
    category: str | None
    weight: float = 1.0


@dataclass(frozen=True)
class Outcome:
    """What the votes so far mean: a decision, a moderator, or wait for more votes."""

    decision: Verdict | None = None
    category: str | None = None
    to_moderator: bool = False
    reason: str = ""


def evaluate(ballots: list[Ballot], settings: Settings) -> Outcome:
    """The consensus rule, as a pure function of the ballots so far."""
    if settings.triage_unsure_to_moderator and any(b.verdict == Verdict.UNSURE for b in ballots):
        return Outcome(to_moderator=True, reason="a reviewer was unsure")
    tally: dict[tuple[Verdict, str | None], float] = defaultdict(float)
    for ballot in ballots:
        if ballot.verdict == Verdict.UNSURE:
            continue
        key = (ballot.verdict, ballot.category if ballot.verdict == Verdict.ILLEGAL else None)
        tally[key] += ballot.weight
    if tally:
        (verdict, category), weight = max(tally.items(), key=lambda kv: kv[1])
        runner_up = sorted(tally.values(), reverse=True)[1] if len(tally) > 1 else 0.0
        if weight + _EPSILON >= settings.triage_votes_needed and weight > runner_up:
            return Outcome(decision=verdict, category=category, reason="consensus")
    if len(ballots) >= max(settings.triage_max_votes, settings.triage_votes_needed):
        return Outcome(to_moderator=True, reason="no consensus within the vote limit")
    return Outcome(reason="waiting for more votes")


def vote_weight(session: Session, settings: Settings, user_id: int) -> float:
    if not settings.triage_weight_by_accuracy:
        return 1.0
    smoothed = users.accuracy_of(session, user_id).smoothed
    return min(1.5, max(0.25, smoothed / settings.triage_reference_accuracy))


def _clean_note(note: str | None) -> str | None:
    if note is None:
        return None
    if len(note) > MAX_NOTE_CHARS:
        raise InvalidInput(f"the note must have at most {MAX_NOTE_CHARS} characters", code=ErrorCode.NOTE_TOO_LONG,
                           params={"max": MAX_NOTE_CHARS})
    return note.strip() or None


def _category_for(verdict: Verdict, category: str | None, task_category: str | None) -> str | None:
    category = queue.check_category(category)
    if verdict == Verdict.ILLEGAL and category is None:
        # Agreeing with the model's category is the common case: the UI may omit it.
        category = task_category
        if category is None:
            raise InvalidInput("an 'illegal' vote needs a category", code=ErrorCode.CATEGORY_REQUIRED)
    return category


def _decision_values(verdict: Verdict, category: str | None) -> dict[str, Any]:
    """The task columns a decision sets."""
    return {"status": TaskStatus.DECIDED, "decision": verdict,
            "decided_category": category if verdict == Verdict.ILLEGAL else None, "decided_at": utcnow(),
            "lease_owner_id": None, "lease_expires_at": None}


def _set_decision(task: ReviewTask, verdict: Verdict, category: str | None) -> None:
    for name, value in _decision_values(verdict, category).items():
        setattr(task, name, value)


def _audit_decision(session: Session, task_id: int, decision: Verdict, category: str | None,
                    actor_id: int | None, how: str) -> None:
    append_audit(session, actor_id=actor_id, action="task.decide", entity_type="review_task", entity_id=task_id,
                 payload={"decision": decision.value, "category": category, "by": how})
    metrics.after_commit(session, metrics.DECISIONS.labels(how=how, decision=decision.value).inc)


def _decided(session: Session, settings: Settings, task: ReviewTask, actor_id: int | None, how: str) -> None:
    """Audit a decision already set on ``task``; an illegal one opens a case."""
    assert task.decision is not None
    _audit_decision(session, task.id, task.decision, task.decided_category, actor_id, how)
    mark_for_reindex(session, [task.item_id])  # search filters on the decision
    _after_decision(session, settings, task, actor_id)


def _after_decision(session: Session, settings: Settings, task: ReviewTask, actor_id: int | None) -> None:
    """An illegal decision opens a case; the cluster's other members inherit the decision (and join it)."""
    if task.decision == Verdict.ILLEGAL:
        cases.open_case(session, task, settings, actor_id)
    reposts.label_cluster(session, task)


def _decide(
    session: Session, settings: Settings, task: ReviewTask, verdict: Verdict, category: str | None,
    actor_id: int | None, how: str,
) -> None:
    _set_decision(task, verdict, category)
    _decided(session, settings, task, actor_id, how)


# Statements every vote runs, built once (bind parameters; SQLAlchemy reuses their cache keys).
_BALLOTS = (
    select(Vote.verdict, Vote.category, Vote.weight)
    .where(Vote.task_id == bindparam("task_id"), Vote.is_moderator_decision.is_(False))
    .order_by(Vote.id)
)
_VOTES = cast(Table, Vote.__table__)
_TASKS = cast(Table, ReviewTask.__table__)
# Lock the task row and learn whether this user already voted on it, in one Core statement: the
# columns the vote needs, not the entity (no ORM loading on every vote).
_LOCK_TASK_FOR_VOTE = (
    select(_TASKS.c.id, _TASKS.c.item_id, _TASKS.c.status, _TASKS.c.lease_owner_id, _TASKS.c.lease_expires_at,
           _TASKS.c.category, _TASKS.c.is_gold, _TASKS.c.vote_count, _TASKS.c.version, _TASKS.c.cluster_id,
           exists().where(_VOTES.c.task_id == _TASKS.c.id, _VOTES.c.user_id == bindparam("user_id")))
    .where(_TASKS.c.id == bindparam("task_id"))
    .with_for_update(of=_TASKS)
)


# Every vote writes its row and the task's new state: Core statements (no unit-of-work flush),
# built once. The task's SET clause is the keys of the parameters given, besides ``task_row_id``.
_INSERT_VOTE = insert(_VOTES).returning(_VOTES.c.id)
_UPDATE_TASK = update(_TASKS).where(_TASKS.c.id == bindparam("task_row_id"))


def ballots_of(session: Session, task_id: int) -> list[Ballot]:
    session.flush()  # a Core read bypasses autoflush: anything pending goes first
    return [Ballot(v, c, w) for v, c, w in session.connection().execute(_BALLOTS, {"task_id": task_id})]


def cast_vote(
    session: Session, settings: Settings, user: Actor, task_id: int, *, verdict: Verdict,
    category: str | None, note: str | None,
) -> Vote:
    """Record the leaseholder's vote and apply the consensus rule, in one transaction."""
    started = time.perf_counter()
    note = _clean_note(note)
    queue.check_category(category)
    # Anything the caller left pending goes first, as the unit of work would have done.
    session.flush()
    connection = session.connection()
    row = connection.execute(_LOCK_TASK_FOR_VOTE, {"user_id": user.id, "task_id": task_id}).one_or_none()
    if row is None:
        raise NotFound(f"task {task_id} not found", code=ErrorCode.TASK_NOT_FOUND, params={"id": task_id})
    *_, already_voted = row
    if already_voted:
        raise Conflict(f"you already voted on task {row.id}", code=ErrorCode.ALREADY_VOTED, params={"id": row.id})
    queue.require_lease(row, user)
    category = _category_for(verdict, category, row.category)
    values: dict[str, Any] = {
        "task_id": row.id, "user_id": user.id, "verdict": verdict, "category": category, "note": note,
        "is_moderator_decision": False, "weight": vote_weight(session, settings, user.id), "created_at": utcnow(),
    }
    # The ballots so far are read before this vote is added (the task row is locked, so none can
    # arrive meanwhile; the first vote needs no query). The rule then runs before anything is
    # written, so the task row is updated once, with its outcome.
    ballots = [] if row.vote_count == 0 or row.is_gold else ballots_of(session, row.id)
    ballots.append(Ballot(verdict, category, values["weight"]))
    outcome = Outcome() if row.is_gold else evaluate(ballots, settings)
    changes: dict[str, Any] = {"vote_count": row.vote_count + 1, "lease_owner_id": None, "lease_expires_at": None,
                               "version": row.version + 1}
    if outcome.decision is None and outcome.to_moderator:
        changes["status"] = TaskStatus.NEEDS_MODERATOR
    elif outcome.decision is not None:
        changes.update(_decision_values(outcome.decision, outcome.category))
    # No savepoint needed: the task row is locked, so the check above cannot race (the unique
    # constraint on (task, user) still backs it). Two Core statements; a task object the session
    # already holds reloads what changed, and the new vote object is added as stored.
    vote_id = connection.execute(_INSERT_VOTE, values).scalar_one()
    connection.execute(_UPDATE_TASK, {**changes, "task_row_id": row.id})
    review_reads.expire_task(session, row.id, list(changes))
    vote = Vote(id=vote_id, **values)
    make_transient_to_detached(vote)
    session.add(vote)
    append_audit(session, actor_id=user.id, action="vote.cast", entity_type="review_task", entity_id=row.id,
                 payload={"vote_id": vote.id, "verdict": verdict.value, "category": category, "weight": vote.weight})
    if outcome.decision is not None:
        decided_category = changes["decided_category"]
        _audit_decision(session, row.id, outcome.decision, decided_category, user.id, "consensus")
        if outcome.decision == Verdict.ILLEGAL or row.cluster_id is not None:
            # Rarer (a confirmed case, a cluster to label): these need the task itself, loaded as now stored.
            task = session.get(ReviewTask, row.id)
            assert task is not None
            _after_decision(session, settings, task, user.id)
    elif outcome.to_moderator:
        append_audit(session, actor_id=user.id, action="task.to_moderator", entity_type="review_task",
                     entity_id=row.id, payload={"reason": outcome.reason})
        metrics.after_commit(session, metrics.TO_MODERATOR.inc)
    metrics.count_vote(session, verdict.value, time.perf_counter() - started)
    if "status" in changes:
        mark_for_reindex(session, [row.item_id])  # search filters on the task's status and decision
    return vote


def undo_vote(session: Session, settings: Settings, user: Actor, vote_id: int) -> ReviewTask:
    """Take back the user's own vote while it is fresh and its task undecided; the task is leased
    back to them (any other task they hold goes back to the queue) so they can vote again."""
    # 404 rather than 403 for another's vote: a reviewer cannot probe others' vote ids.
    mine = select(Vote).where(Vote.id == vote_id, Vote.user_id == user.id, Vote.is_moderator_decision.is_(False))
    found = session.execute(mine).scalar_one_or_none()
    if found is None:
        raise NotFound(f"vote {vote_id} not found", code=ErrorCode.VOTE_NOT_FOUND, params={"id": vote_id})
    task = queue.lock_task(session, found.task_id)
    # Read again under the task's lock: a concurrent undo of the same vote may have just removed it.
    vote = session.execute(mine.execution_options(populate_existing=True)).scalar_one_or_none()
    if vote is None:
        raise NotFound(f"vote {vote_id} not found", code=ErrorCode.VOTE_NOT_FOUND, params={"id": vote_id})
    now = utcnow()
    if now - as_utc(vote.created_at) > timedelta(seconds=settings.triage_vote_undo_seconds):
        raise InvalidTransition(f"vote {vote.id} can no longer be undone "
                                f"(only within {settings.triage_vote_undo_seconds} s of voting)",
                                code=ErrorCode.UNDO_EXPIRED, params={"seconds": settings.triage_vote_undo_seconds})
    if task.status not in (TaskStatus.OPEN, TaskStatus.NEEDS_MODERATOR):
        raise InvalidTransition(f"task {task.id} is already {task.status.value}; the vote stands",
                                code=ErrorCode.TASK_DECIDED, params={"id": task.id})
    if task.lease_owner_id not in (None, user.id) and task.lease_expires_at and as_utc(task.lease_expires_at) > now:
        raise Conflict(f"another reviewer is reviewing task {task.id} now; the vote stands",
                       code=ErrorCode.UNDO_TASK_TAKEN, params={"id": task.id})
    session.delete(vote)
    session.flush()
    remaining = ballots_of(session, task.id)
    # Without this vote the rule cannot decide (the task would have been decided already):
    # the task waits for votes again unless the other ballots still send it to a moderator.
    reopened = task.status == TaskStatus.NEEDS_MODERATOR and not evaluate(remaining, settings).to_moderator
    if reopened:
        task.status = TaskStatus.OPEN
    queue.release_held(session, user, now, keep=task.id)
    task.vote_count = max(0, task.vote_count - 1)
    task.lease_owner_id = user.id
    task.lease_expires_at = now + timedelta(seconds=settings.triage_lease_seconds)
    task.version += 1
    append_audit(session, actor_id=user.id, action="vote.undo", entity_type="review_task", entity_id=task.id,
                 payload={"vote_id": vote.id, "verdict": vote.verdict.value, "category": vote.category,
                          "reopened": reopened})
    return task


def resolve(
    session: Session, settings: Settings, moderator: Actor, task_id: int, *, verdict: Verdict,
    category: str | None, note: str | None,
) -> ReviewTask:
    """A moderator's decision on a task that went to moderation (or an open one they override)."""
    note = _clean_note(note)
    if verdict == Verdict.UNSURE:
        raise InvalidInput("a moderator decides 'illegal' or 'legal'", code=ErrorCode.MODERATOR_VERDICT)
    queue.check_category(category)
    task = queue.lock_task(session, task_id)
    if task.is_gold:
        raise InvalidTransition(f"task {task.id} is a gold task; gold tasks are never decided",
                                code=ErrorCode.GOLD_TASK, params={"id": task.id})
    if task.status not in (TaskStatus.OPEN, TaskStatus.NEEDS_MODERATOR):
        raise InvalidTransition(f"task {task.id} is {task.status.value} and cannot be resolved",
                                code=ErrorCode.TASK_DECIDED, params={"id": task.id})
    if session.execute(select(Vote.id).where(Vote.task_id == task.id, Vote.user_id == moderator.id)).first():
        raise Conflict(f"you voted on task {task.id}; another moderator must resolve it",
                       code=ErrorCode.OWN_VOTE_RESOLVE, params={"id": task.id})
    category = _category_for(verdict, category, task.category)
    session.add(Vote(task_id=task.id, user_id=moderator.id, verdict=verdict, category=category, note=note,
                     is_moderator_decision=True, weight=1.0, created_at=utcnow()))
    session.flush()
    task.decided_by_id = moderator.id
    task.version += 1
    _decide(session, settings, task, verdict, category, moderator.id, "moderator")
    return task


def make_gold(
    session: Session, moderator: Actor, task_id: int, *, verdict: Verdict, category: str | None
) -> ReviewTask:
    """Give an open task a known answer: from now on it measures accuracy instead of being decided."""
    if verdict == Verdict.UNSURE:
        raise InvalidInput("a gold answer is 'illegal' or 'legal'")
    category = queue.check_category(category)
    if verdict == Verdict.ILLEGAL and category is None:
        raise InvalidInput("an 'illegal' gold answer needs a category", code=ErrorCode.CATEGORY_REQUIRED)
    task = queue.lock_task(session, task_id)
    if task.status not in (TaskStatus.OPEN, TaskStatus.NEEDS_MODERATOR):
        raise InvalidTransition(f"task {task.id} is {task.status.value}; only undecided tasks become gold",
                                code=ErrorCode.TASK_DECIDED, params={"id": task.id})
    task.is_gold = True
    task.gold_verdict = verdict
    task.gold_category = category if verdict == Verdict.ILLEGAL else None
    task.status = TaskStatus.OPEN
    task.version += 1
    mark_for_reindex(session, [task.item_id])
    append_audit(session, actor_id=moderator.id, action="task.gold", entity_type="review_task", entity_id=task.id,
                 payload={"verdict": verdict.value, "category": task.gold_category})
    return task


def make_gold_from_item(
    session: Session, settings: Settings, moderator: Actor, item_id: int, *, verdict: Verdict, category: str | None
) -> ReviewTask:
    """Plant a gold task for any stored item whose answer the moderator knows.

    An item that never became a task (below every threshold, never sampled for exploration, or
    not scored yet) gets a new gold task; an item whose task is still undecided has that task
    made gold (``make_gold``). A decided or cancelled task is not reopened as gold: its decision
    stands and an item has one task, so that is a 409.
    """
    item = session.get(ContentItem, item_id)
    if item is None:
        raise NotFound(f"item {item_id} not found")
    task = session.execute(
        select(ReviewTask).where(ReviewTask.item_id == item.id).with_for_update()
    ).scalar_one_or_none()
    if task is not None:
        return make_gold(session, moderator, task.id, verdict=verdict, category=category)
    if verdict == Verdict.UNSURE:
        raise InvalidInput("a gold answer is 'illegal' or 'legal'")
    category = queue.check_category(category)
    if verdict == Verdict.ILLEGAL and category is None:
        raise InvalidInput("an 'illegal' gold answer needs a category", code=ErrorCode.CATEGORY_REQUIRED)
    created = utcnow()
    score = review_reads.latest_score(session, item.id)
    probability = float(score.score or 0.0) if score is not None else 0.0
    # Priority as if the item had passed its category's threshold: gold is served through its own
    # lane (``triage_gold_share``), and inside it the usual order applies.
    priority = probability * queue.severity_weight(queue.taxonomy(), category)
    task = ReviewTask(
        item_id=item.id, cluster_id=item.cluster_id, category=category or (score.top_category if score else None),
        score=probability, priority=priority, rank=queue.compute_rank(settings, priority, created),
        status=TaskStatus.OPEN, is_exploration=False, is_gold=True, gold_verdict=verdict,
        gold_category=category if verdict == Verdict.ILLEGAL else None,
        model_version=score.model_version if score is not None else None, created_at=created, version=0,
        vote_count=0, duplicate_count=0,
    )
    try:
        # A savepoint: the scoring job (or another moderator) may create the item's task meanwhile,
        # and the unique item_id then makes this a 409 rather than a failed transaction.
        with session.begin_nested():
            session.add(task)
            session.flush()
    except IntegrityError:
        raise Conflict(f"a task for item {item.id} was created meanwhile; try again") from None
    mark_for_reindex(session, [item.id])
    append_audit(session, actor_id=moderator.id, action="task.gold", entity_type="review_task", entity_id=task.id,
                 payload={"verdict": verdict.value, "category": task.gold_category, "item_id": item.id,
                          "created": True})
    return task


def votes_of_task(session: Session, task_id: int) -> list[tuple[Vote, User]]:
    if session.get(ReviewTask, task_id) is None:
        raise NotFound(f"task {task_id} not found", code=ErrorCode.TASK_NOT_FOUND, params={"id": task_id})
    rows = session.execute(
        select(Vote, User).join(User, User.id == Vote.user_id).where(Vote.task_id == task_id).order_by(Vote.id)
    )
    return [(vote, user) for vote, user in rows]


def my_votes(session: Session, user: Actor, *, offset: int, limit: int) -> tuple[list[tuple[Vote, ReviewTask]], int]:
    from sqlalchemy import func

    result = session.execute(
        select(Vote, ReviewTask)
        .join(ReviewTask, ReviewTask.id == Vote.task_id)
        .where(Vote.user_id == user.id)
        .order_by(Vote.id.desc())
        .offset(offset)
        .limit(limit)
    )
    rows = [(vote, task) for vote, task in result]
    total = session.execute(select(func.count()).select_from(Vote).where(Vote.user_id == user.id)).scalar_one()
    return rows, int(total)


def my_decision(session: Session, user: Actor, task_id: int) -> tuple[ReviewTask, Vote | None]:
    """A task with the user's own vote on it: volunteers open only tasks they voted on, staff any task."""
    task = queue.get_task(session, task_id)
    vote = session.scalars(select(Vote).where(Vote.task_id == task.id, Vote.user_id == user.id)).one_or_none()
    if vote is None and user.role not in queue.STAFF_ROLES:
        # 404 rather than 403: a volunteer cannot probe which task ids exist.
        raise NotFound(f"task {task_id} not found", code=ErrorCode.TASK_NOT_FOUND, params={"id": task_id})
    return task, vote


def moderator_roles() -> frozenset[Role]:
    return frozenset({Role.MODERATOR, Role.ADMIN})
