"""The review queue: tasks from scores, priority with ageing, and atomic leases.

Priority is ``score x severity weight`` (low 1 ... critical 4). Ageing adds
``triage_aging_per_hour`` per hour of waiting, so any task eventually outranks a fresh critical
one and nothing starves. Because ``now`` is the same for every row, ordering by
``priority + rate * (now - created)`` equals ordering by ``rank = priority - rate * created``,
a constant stored per task and indexed with the status: claiming is one index scan.

Claiming locks one row: on PostgreSQL ``SELECT ... FOR UPDATE SKIP LOCKED`` lets concurrent
claimers pass over each other's rows; on SQLite every transaction starts with ``BEGIN IMMEDIATE``
(``saqshy.db.session``), so the select-then-update runs alone. Both are guarded again by a
conditional ``UPDATE ... WHERE`` the lease is still free.

Exploration (active learning): of the items below every threshold, some become exploration tasks,
served by ``triage_exploration_share`` of the claims. They are chosen, and ranked, by what a label
on them would teach the model: its uncertainty (closeness to the nearest threshold) and how short
its category and language are of their label target (``label_coverage``). An exploration task's
priority is that learning value, so the claim orders it like any other task by its stored rank.
"""

from __future__ import annotations

import logging
import math
import random
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Protocol, cast

from sqlalchemy import CursorResult, Table, bindparam, func, select, text, update
from sqlalchemy.orm import Session

from classifier.data import LANGS
from classifier.taxonomy import Taxonomy, load_taxonomy
from saqshy import metrics
from saqshy.context import Context
from saqshy.db.models import CategoryThreshold, ContentItem, ReviewTask, Role, Score, TaskStatus, User, Vote
from saqshy.errors import Conflict, ErrorCode, Forbidden, InvalidInput, InvalidTransition, NotFound
from saqshy.services.items import mark_for_reindex
from saqshy.settings import Settings
from saqshy.timeutil import as_utc, utcnow
from triage_api.services import label_coverage, reposts, review_reads, wellbeing
from triage_api.services.audit import append_audit
from triage_api.services.auth import Actor
from triage_api.services.label_coverage import Shortage
from triage_api.services.review_reads import ReviewView, ScoreView

log = logging.getLogger(__name__)

REVIEWER_ROLES = frozenset({Role.VOLUNTEER, Role.MODERATOR})
STAFF_ROLES = frozenset({Role.MODERATOR, Role.ADMIN, Role.ML_ENGINEER})
# Skip memory: a task a reviewer skipped is not served to them again for a shift. Kept in
# ``User.preferences`` (a handful of ids per reviewer, pruned on every write), not in a table.
SKIPPED_KEY = "skipped_tasks"
SKIP_HOURS = wellbeing.SHIFT_HOURS
MAX_SKIPPED = 200


def taxonomy() -> Taxonomy:
    return load_taxonomy()


def check_category(name: str | None) -> str | None:
    """A category name from the taxonomy (InvalidInput, hence 422, for any other)."""
    if name is None:
        return None
    tax = taxonomy()
    if name not in tax:
        raise InvalidInput(f"unknown category {name[:64]!r}; known: {', '.join(tax.names)}",
                           code=ErrorCode.UNKNOWN_CATEGORY, params={"category": name[:64]})
    return name


def severity_weight(tax: Taxonomy, category: str | None) -> float:
    if category is None or category not in tax:
        return 1.0
    return float(tax[category].severity_rank + 1)


def compute_rank(settings: Settings, priority: float, created_at: datetime) -> float:
    return priority - settings.triage_aging_per_hour / 3600.0 * as_utc(created_at).timestamp()


def effective_priority(settings: Settings, task: ReviewTask, now: datetime | None = None) -> float:
    """The priority with ageing, as the queue sees it now."""
    now = now or utcnow()
    return task.priority + settings.triage_aging_per_hour * (now - as_utc(task.created_at)).total_seconds() / 3600


# --- From scores to tasks ---------------------------------------------------------------------


@dataclass
class SyncResult:
    scores_seen: int = 0
    created: int = 0
    exploration: int = 0
    updated: int = 0
    folded_into_cluster: int = 0
    # Folded into a task already decided: labelled with its decision and listed for moderators.
    reposts: int = 0
    below_threshold: int = 0
    task_ids: list[int] = field(default_factory=list)


@dataclass
class _Candidate:
    score: Score | ScoreView
    item: ContentItem
    category: str | None
    probability: float
    # max over categories of probability / threshold: 1.0 is on the boundary.
    closeness: float


def thresholds(session: Session) -> dict[str, float]:
    """Each category's threshold: the taxonomy's default unless staff set another."""
    values = taxonomy().thresholds()
    for category, threshold in session.execute(select(CategoryThreshold.category, CategoryThreshold.threshold)):
        if category in values:
            values[category] = float(threshold)
    return values


def set_threshold(session: Session, actor: Actor, category: str, threshold: float) -> CategoryThreshold:
    check_category(category)
    if not 0.0 < threshold < 1.0 or not math.isfinite(threshold):
        raise InvalidInput("a threshold is a number strictly between 0 and 1", code=ErrorCode.THRESHOLD_RANGE)
    row = session.get(CategoryThreshold, category, with_for_update=True)
    before = row.threshold if row is not None else taxonomy()[category].threshold
    if row is None:
        row = CategoryThreshold(category=category, threshold=threshold)
        session.add(row)
    row.threshold = threshold
    row.updated_by_id = actor.id
    row.updated_at = utcnow()
    append_audit(session, actor_id=actor.id, action="threshold.change", entity_type="category",
                 entity_id=category, payload={"from": before, "to": threshold})
    return row


def _assess(tax: Taxonomy, limits: dict[str, float], score: Score | ScoreView) -> tuple[str | None, float, bool, float]:
    """(category, probability, passes a threshold, closeness to the nearest threshold)."""
    probabilities = score.probabilities if isinstance(score.probabilities, dict) else {}
    best: tuple[float, str, float] | None = None  # (priority, name, p) among passing categories
    closest: tuple[float, str | None, float] = (0.0, score.top_category, float(score.score or 0.0))
    for category in tax:
        raw = probabilities.get(category.name)
        if isinstance(raw, bool) or not isinstance(raw, int | float) or not math.isfinite(raw):
            continue
        p = min(max(float(raw), 0.0), 1.0)
        limit = limits.get(category.name, category.threshold)
        ratio = p / limit
        if ratio > closest[0]:
            closest = (ratio, category.name, p)
        if p >= limit:
            priority = p * (category.severity_rank + 1)
            if best is None or priority > best[0]:
                best = (priority, category.name, p)
    if best is not None:
        return best[1], best[2], True, closest[0]
    nearest = closest[1] if closest[1] in tax else None
    return nearest, closest[2], False, closest[0]


def _stochastic_round(value: float, rng: random.Random) -> int:
    whole = math.floor(value)
    return whole + (1 if rng.random() < value - whole else 0)


def _new_task(
    settings: Settings, tax: Taxonomy, candidate: _Candidate, *, exploration: bool, priority: float | None = None
) -> ReviewTask:
    created = utcnow()
    if priority is None:
        priority = candidate.probability * severity_weight(tax, candidate.category)
    return ReviewTask(
        item_id=candidate.item.id,
        cluster_id=candidate.item.cluster_id,
        category=candidate.category,
        score=candidate.probability,
        priority=priority,
        rank=compute_rank(settings, priority, created),
        status=TaskStatus.OPEN,
        is_exploration=exploration,
        is_gold=False,
        model_version=candidate.score.model_version,
        created_at=created,
        version=0,
        vote_count=0,
        duplicate_count=0,
    )


def sync_tasks_from_scores(
    session: Session, settings: Settings, *, rng: random.Random | None = None, limit: int | None = None,
    shortage: Shortage | None = None,
) -> SyncResult:
    """Turn scores not yet triaged into review tasks (the scoring job calls this after writing scores).

    Idempotent: each score is marked ``triaged_at`` in the same transaction. An item above its
    category's threshold becomes a task (or refreshes its open task); an item whose near-duplicate
    cluster already has a task is folded into it; of the items below threshold, enough become
    exploration tasks that they make up ``triage_exploration_share`` of the tasks created
    (``_pick_exploration``). ``shortage`` is the label shortage per category and language; when not
    given and exploration needs it, ``label_coverage.cached_shortage`` (counted now and then).
    """
    rng = rng or random.Random()
    batch = _Batch(session, settings, taxonomy(), thresholds(session), shortage)
    scores = _untriaged_scores(session, limit or settings.triage_sync_batch_size)
    if not scores:
        return batch.result
    now = utcnow()
    items = _items_of(session, scores)
    for score in scores:
        score.triaged_at = now
        batch.result.scores_seen += 1
        item = items.get(score.item_id)
        if item is not None:
            _triage(batch, score, item)
    if batch.below and settings.triage_exploration_share > 0:
        _explore(batch, rng)
    if batch.result.created or batch.result.exploration:
        append_audit(
            session, actor_id=None, action="tasks.create", entity_type="review_task", entity_id=None,
            payload={"task_ids": batch.result.task_ids, "exploration": batch.result.exploration},
        )
    # Search filters on each item's latest score and its task: index the triaged items again.
    mark_for_reindex(session, sorted({score.item_id for score in scores}))
    return batch.result


@dataclass
class _Batch:
    """One sync batch as it goes: its result, the task each cluster got in it, the candidates below
    every threshold, and the label shortage once something needs it."""

    session: Session
    settings: Settings
    tax: Taxonomy
    limits: dict[str, float]
    shortage: Shortage | None
    result: SyncResult = field(default_factory=SyncResult)
    cluster_tasks: dict[int, ReviewTask] = field(default_factory=dict)
    below: list[_Candidate] = field(default_factory=list)

    def label_shortage(self) -> Shortage:
        if self.shortage is None:
            self.shortage = label_coverage.cached_shortage(self.session, self.settings, self.tax)
        return self.shortage


def _untriaged_scores(session: Session, limit: int) -> list[Score]:
    """The oldest scores not yet triaged, locked (a concurrent sync skips them)."""
    return list(
        session.execute(
            select(Score).where(Score.triaged_at.is_(None)).order_by(Score.id).limit(limit)
            .with_for_update(skip_locked=True)
        ).scalars()
    )


def _items_of(session: Session, scores: list[Score]) -> dict[int, ContentItem]:
    found = select(ContentItem).where(ContentItem.id.in_({s.item_id for s in scores}))
    return {item.id: item for item in session.execute(found).scalars()}


def _triage(batch: _Batch, score: Score, item: ContentItem) -> None:
    """One score: fold it into its cluster's task, update its item's task, or keep it for a new task."""
    category, p, passes, closeness = _assess(batch.tax, batch.limits, score)
    candidate = _Candidate(score, item, category, p, closeness)
    session = batch.session
    existing = session.execute(select(ReviewTask).where(ReviewTask.item_id == item.id)).scalar_one_or_none()
    if existing is None and item.cluster_id is not None:
        cluster_task = batch.cluster_tasks.get(item.cluster_id) or _cluster_task(session, item.cluster_id)
        if cluster_task is not None:
            _fold(session, batch.settings, batch.tax, cluster_task, candidate, passes, batch.result)
            return
    if existing is not None:
        _follow_score(batch, existing, candidate, passes)
    elif not passes:
        batch.result.below_threshold += 1
        batch.below.append(candidate)
    else:
        _add_task(batch, candidate, exploration=False)


def _cluster_task(session: Session, cluster_id: int) -> ReviewTask | None:
    """The cluster's first task that is not cancelled (the one its near-duplicates fold into)."""
    return session.execute(
        select(ReviewTask)
        .where(ReviewTask.cluster_id == cluster_id, ReviewTask.status != TaskStatus.CANCELLED)
        .order_by(ReviewTask.id)
        .limit(1)
    ).scalar_one_or_none()


def _follow_score(batch: _Batch, task: ReviewTask, candidate: _Candidate, passes: bool) -> None:
    """The item already has a task: an open one follows the newer score."""
    if passes and task.status == TaskStatus.OPEN and not task.is_gold:
        _refresh(batch.settings, batch.tax, task, candidate)
        batch.result.updated += 1
    elif task.is_exploration and task.status == TaskStatus.OPEN:
        # Still below every threshold under the new score: ranked by the current model's uncertainty.
        value = _learning_value(batch.label_shortage(), candidate)
        _refresh(batch.settings, batch.tax, task, candidate, exploration_value=value)
        batch.result.updated += 1


def _add_task(batch: _Batch, candidate: _Candidate, *, exploration: bool, priority: float | None = None) -> None:
    task = _new_task(batch.settings, batch.tax, candidate, exploration=exploration, priority=priority)
    batch.session.add(task)
    batch.session.flush()
    if candidate.item.cluster_id is not None:
        batch.cluster_tasks[candidate.item.cluster_id] = task
    if exploration:
        batch.result.exploration += 1
    else:
        batch.result.created += 1
    batch.result.task_ids.append(task.id)


def _explore(batch: _Batch, rng: random.Random) -> None:
    """Exploration tasks from the batch's candidates below every threshold, in proportion to the tasks it created."""
    share = batch.settings.triage_exploration_share
    wanted = len(batch.below) if share >= 1 else _stochastic_round(batch.result.created * share / (1 - share), rng)
    if not wanted:
        return
    for candidate, value in _pick_exploration(batch.below, wanted, batch.label_shortage(), rng):
        if candidate.item.cluster_id is not None and candidate.item.cluster_id in batch.cluster_tasks:
            continue
        _add_task(batch, candidate, exploration=True, priority=value)


def _fold(
    session: Session, settings: Settings, tax: Taxonomy, task: ReviewTask, candidate: _Candidate, passes: bool,
    result: SyncResult,
) -> None:
    """A near-duplicate joins its cluster's task: one task per cluster, keeping the stronger signal.

    After the task's decision the item is a repost: it inherits the decision, visibly (``reposts``).
    """
    task.duplicate_count += 1
    result.folded_into_cluster += 1
    if task.status == TaskStatus.DECIDED:
        if reposts.record_repost(session, task, candidate.item) is not None:
            result.reposts += 1
    elif passes and task.status == TaskStatus.OPEN and not task.is_gold:
        _raise_priority(settings, tax, task, candidate)


def task_for_reopened_item(session: Session, settings: Settings, item_id: int, category: str | None) -> ReviewTask:
    """An open task of the item's own (a repost a moderator sent back to review), ranked by its latest score."""
    tax = taxonomy()
    item = session.get(ContentItem, item_id)
    score = review_reads.latest_score(session, item_id)
    if item is None or score is None:  # a repost reached the queue through its score
        raise NotFound(f"item {item_id} has no score to queue it by", code=ErrorCode.NOT_FOUND,
                       params={"id": item_id})
    found, p, _, closeness = _assess(tax, thresholds(session), score)
    task = _new_task(settings, tax, _Candidate(score, item, category or found, p, closeness), exploration=False)
    session.add(task)
    session.flush()
    append_audit(session, actor_id=None, action="tasks.create", entity_type="review_task", entity_id=None,
                 payload={"task_ids": [task.id], "exploration": 0, "reopened_item_id": item_id})
    return task


# In the random half of the exploration picks, a category and language that has reached its label
# target is still drawn, this many times as often as one with no labels at all.
EXPLORATION_FULL_WEIGHT = 0.1


def _label_need(shortage: Shortage, candidate: _Candidate) -> float:
    """How short the candidate's category and language are of their label target (0 to 1)."""
    language = candidate.item.language if candidate.item.language in LANGS else label_coverage.UNTARGETED_LANGUAGE
    return shortage.get((candidate.category or "", language), 0.0)


def _learning_value(shortage: Shortage, candidate: _Candidate) -> float:
    """Uncertainty (1 on the threshold) raised by up to twice for a category and language short of labels."""
    return candidate.closeness * (1.0 + _label_need(shortage, candidate))


def _pick_exploration(
    below: list[_Candidate], wanted: int, shortage: Shortage, rng: random.Random
) -> list[tuple[_Candidate, float]]:
    """``wanted`` candidates with their learning value: half the most valuable (uncertain, short of
    labels), half drawn at random, weighted towards short categories and languages so that the
    model's confident mistakes are found too (Efraimidis-Spirakis weighted sampling without replacement)."""
    by_value = sorted(((c, _learning_value(shortage, c)) for c in below), key=lambda cv: cv[1], reverse=True)
    top = (wanted + 1) // 2
    rest = by_value[top:]
    keys = [rng.random() ** (1.0 / (EXPLORATION_FULL_WEIGHT + _label_need(shortage, c))) for c, _ in rest]
    drawn = sorted(range(len(rest)), key=keys.__getitem__, reverse=True)[: wanted - top]
    return by_value[:top] + [rest[i] for i in drawn]


def _refresh(
    settings: Settings, tax: Taxonomy, task: ReviewTask, candidate: _Candidate, *,
    exploration_value: float | None = None,
) -> None:
    # A newer score (e.g. a new model version) for an open task: the task follows it.
    task.category = candidate.category
    task.score = candidate.probability
    if exploration_value is None:
        task.priority = candidate.probability * severity_weight(tax, candidate.category)
    else:
        task.priority = exploration_value
    task.rank = compute_rank(settings, task.priority, task.created_at)
    task.model_version = candidate.score.model_version
    task.is_exploration = exploration_value is not None


def _raise_priority(settings: Settings, tax: Taxonomy, task: ReviewTask, candidate: _Candidate) -> None:
    priority = candidate.probability * severity_weight(tax, candidate.category)
    # An exploration task's priority is its learning value: a member over a threshold always lifts it.
    if task.is_exploration or priority > task.priority:
        _refresh(settings, tax, task, candidate)


# --- Leases -------------------------------------------------------------------------------------


_TASKS = cast(Table, ReviewTask.__table__)  # Core statements: no ORM bulk-update machinery per claim
# Built once with bind parameters: every claim runs it.
_TAKE_LEASE = (
    update(_TASKS)
    .where(_TASKS.c.id == bindparam("task_id"))
    .values(lease_owner_id=bindparam("owner"), lease_expires_at=bindparam("expires"), version=bindparam("version"))
)
_LEASE_COLUMNS = ["lease_owner_id", "lease_expires_at", "version"]


def _lanes(settings: Settings, rng: random.Random) -> list[str | None]:
    """The lane a claim tries first (gold, exploration or regular by their shares), then any lane."""
    draw = rng.random()
    if draw < settings.triage_gold_share:
        first = "gold"
    elif draw < settings.triage_gold_share + settings.triage_exploration_share:
        first = "exploration"
    else:
        first = "regular"
    return [first, None]


@dataclass(frozen=True)
class ClaimFilter:
    """What a reviewer chose to review now: one category, one item language (None: any)."""

    category: str | None = None
    language: str | None = None


def claim(
    session: Session, settings: Settings, user: Actor, *, rng: random.Random | None = None,
    only: ClaimFilter | None = None,
) -> ReviewView | None:
    """Lease the most urgent open task this user has not voted on, as they are shown it with their
    lease; None when there is none.

    A reviewer holds at most one lease: claiming again returns the task already held, whatever
    ``only`` says (``only`` narrows a new choice to a category and/or a language; the reviewer gives
    the held task back first to change what they review)."""
    if user.role not in REVIEWER_ROLES:
        raise Forbidden("only volunteers and moderators review tasks", code=ErrorCode.NOT_A_REVIEWER)
    only = only or ClaimFilter()
    check_category(only.category)
    now = utcnow()
    current = review_reads.held_task(session, user.id, now)
    if current is not None:
        return current
    params = _claim_params(session, user, only, now)
    if params is None:
        return None
    expires = now + timedelta(seconds=settings.triage_lease_seconds)
    for lane in _lanes(settings, rng or random.Random()):
        task = review_reads.next_claimable(session, lane, params)
        if task is None:
            continue
        # The row is locked (PostgreSQL) or the whole database is (SQLite) until commit, so the
        # lease read free above is still free here: one Core UPDATE, no unit-of-work flush per claim.
        version = task.version + 1
        session.connection().execute(_TAKE_LEASE, {"task_id": task.task_id, "owner": user.id, "expires": expires,
                                                   "version": version})
        review_reads.expire_task(session, task.task_id, _LEASE_COLUMNS)
        append_audit(session, actor_id=user.id, action="task.claim", entity_type="review_task",
                     entity_id=task.task_id, payload={"expires_at": expires.isoformat()})
        metrics.after_commit(session, metrics.CLAIMS.inc)
        return task._replace(version=version, lease_owner_id=user.id, lease_expires_at=expires)
    return None


def _claim_params(session: Session, user: Actor, only: ClaimFilter, now: datetime) -> dict[str, Any] | None:
    """The claim's parameters for this reviewer now; None once the daily cap is reached.

    Wellbeing: no category outside the reviewer's opt-ins or past its budgets (services/wellbeing.py)."""
    gate = wellbeing.claim_gate(session, user, now)
    if gate.cap_reached:
        return None
    params: dict[str, Any] = {"now": now, "user_id": user.id}
    if gate.excluded_categories:
        params["excluded"] = sorted(gate.excluded_categories)
    skipped = skipped_task_ids(user, now)
    if skipped:
        params["skipped"] = sorted(skipped)
    if only.category is not None:
        params["category"] = only.category
    if only.language is not None:
        params["language"] = only.language
    return params


def available(session: Session, user: Actor, only: ClaimFilter | None = None) -> int:
    """How many tasks a claim could still give this reviewer now, within ``only`` (the queue's progress)."""
    only = only or ClaimFilter()
    check_category(only.category)
    params = _claim_params(session, user, only, utcnow())
    if params is None:
        return 0
    return review_reads.count_claimable(session, params)


def lock_task(session: Session, task_id: int) -> ReviewTask:
    """The task, its row locked until the transaction ends: every change to a task starts here."""
    task = session.execute(select(ReviewTask).where(ReviewTask.id == task_id).with_for_update()).scalar_one_or_none()
    if task is None:
        raise NotFound(f"task {task_id} not found", code=ErrorCode.TASK_NOT_FOUND, params={"id": task_id})
    return task


class LeasedTask(Protocol):
    """What ``require_lease`` reads of a task: a ``ReviewTask`` or a row of those columns."""

    @property
    def id(self) -> int: ...
    @property
    def status(self) -> TaskStatus: ...
    @property
    def lease_owner_id(self) -> int | None: ...
    @property
    def lease_expires_at(self) -> datetime | None: ...


def require_lease(task: LeasedTask, user: Actor, now: datetime | None = None) -> None:
    """The user must hold a live lease on the task.

    An expired lease is lost even while nobody has claimed the task again: expiry returns the task
    to the queue, so from that moment any claimer may take it, and a late vote must not
    depend on whether someone happened to claim it first or the lease-expiry job ran. The reviewer
    claims again (and usually gets the same task back) or extends the lease in time.
    """
    if task.status != TaskStatus.OPEN:
        raise InvalidTransition(f"task {task.id} is {task.status.value}, no longer open for review",
                                code=ErrorCode.TASK_DECIDED, params={"id": task.id})
    if task.lease_owner_id != user.id:
        raise Conflict(f"you do not hold the lease on task {task.id} (it expired and was claimed, or was never yours)",
                       code=ErrorCode.NOT_YOUR_TASK, params={"id": task.id})
    expires = task.lease_expires_at
    if expires is None or as_utc(expires) <= (now or utcnow()):
        raise Conflict(f"your lease on task {task.id} expired; claim it again", code=ErrorCode.LEASE_EXPIRED,
                       params={"id": task.id})


def extend_lease(session: Session, settings: Settings, user: Actor, task_id: int, seconds: int | None) -> ReviewTask:
    seconds = seconds or settings.triage_lease_seconds
    if not 1 <= seconds <= settings.triage_lease_max_seconds:
        raise InvalidInput(f"seconds must be between 1 and {settings.triage_lease_max_seconds}")
    task = lock_task(session, task_id)
    require_lease(task, user)
    task.lease_expires_at = utcnow() + timedelta(seconds=seconds)
    task.version += 1
    append_audit(session, actor_id=user.id, action="task.extend", entity_type="review_task", entity_id=task.id,
                 payload={"expires_at": task.lease_expires_at.isoformat()})
    return task


def skipped_task_ids(user: Actor, now: datetime | None = None) -> set[int]:
    """Tasks the user skipped within the last ``SKIP_HOURS``: ``claim`` does not serve them to them."""
    now = now or utcnow()
    raw = (user.preferences or {}).get(SKIPPED_KEY)
    if not isinstance(raw, dict):
        return set()
    cutoff = now - timedelta(hours=SKIP_HOURS)
    found: set[int] = set()
    for key, when in raw.items():
        try:
            if datetime.fromisoformat(str(when)) > cutoff:
                found.add(int(key))
        except (TypeError, ValueError):
            continue  # a malformed entry: ignore the entry rather than fail the claim
    return found


def _remember_skip(user: User, task_id: int, now: datetime) -> None:
    raw = (user.preferences or {}).get(SKIPPED_KEY)
    cutoff = now - timedelta(hours=SKIP_HOURS)
    kept: dict[str, str] = {}
    if isinstance(raw, dict):
        for key, when in raw.items():
            try:
                if datetime.fromisoformat(str(when)) > cutoff:
                    kept[str(key)] = str(when)
            except (TypeError, ValueError):
                continue
    kept[str(task_id)] = now.isoformat()
    newest = dict(sorted(kept.items(), key=lambda kv: kv[1])[-MAX_SKIPPED:])
    # JSON columns are not mutation-tracked: assign a new dict so the change is flushed.
    user.preferences = {**(user.preferences or {}), SKIPPED_KEY: newest}


def release_lease(session: Session, user: Actor, task_id: int, *, skip: bool = False) -> None:
    """Give the task back; with ``skip`` it is also not served to this user again for ``SKIP_HOURS``."""
    task = lock_task(session, task_id)
    require_lease(task, user)
    task.lease_owner_id = None
    task.lease_expires_at = None
    task.version += 1
    if skip:
        _remember_skip(session.get_one(User, user.id), task.id, utcnow())
    append_audit(session, actor_id=user.id, action="task.release", entity_type="review_task", entity_id=task.id,
                 payload={"skip": True} if skip else {})


def release_held(session: Session, user: Actor, now: datetime, *, keep: int) -> None:
    """Give back every live lease the user holds except on task ``keep`` (a reviewer holds one task)."""
    held = session.execute(
        select(ReviewTask).where(ReviewTask.lease_owner_id == user.id, ReviewTask.lease_expires_at > now,
                                 ReviewTask.id != keep).with_for_update()
    ).scalars()
    for task in held:
        task.lease_owner_id = None
        task.lease_expires_at = None
        task.version += 1
        append_audit(session, actor_id=user.id, action="task.release", entity_type="review_task",
                     entity_id=task.id, payload={"for_task": keep})


def expire_leases(session: Session) -> int:
    """Clear lapsed leases (claiming already ignores them; this only tidies what the UI shows)."""
    now = utcnow()
    result = session.execute(
        update(ReviewTask)
        .where(ReviewTask.lease_expires_at.is_not(None), ReviewTask.lease_expires_at <= now)
        .values(lease_owner_id=None, lease_expires_at=None)
        .execution_options(synchronize_session=False)
    )
    return int(cast(CursorResult[Any], result).rowcount)


# --- Reading --------------------------------------------------------------------------------------


def get_task(session: Session, task_id: int) -> ReviewTask:
    task = session.get(ReviewTask, task_id)
    if task is None:
        raise NotFound(f"task {task_id} not found", code=ErrorCode.TASK_NOT_FOUND, params={"id": task_id})
    return task


def task_for_reviewer(session: Session, user: Actor, task_id: int) -> ReviewView:
    """A volunteer sees a task only while leasing it or after voting on it (never others' votes)."""
    task = review_reads.review_of_task(session, task_id)
    if user.role in STAFF_ROLES or task.lease_owner_id == user.id:
        return task
    voted = session.execute(select(Vote.id).where(Vote.task_id == task_id, Vote.user_id == user.id)).first()
    if voted is None:
        # 404 rather than 403: a volunteer cannot probe which task ids exist.
        raise NotFound(f"task {task_id} not found", code=ErrorCode.TASK_NOT_FOUND, params={"id": task_id})
    return task


def list_tasks(
    session: Session,
    *,
    status: TaskStatus | None,
    category: str | None,
    is_gold: bool | None,
    offset: int,
    limit: int,
) -> tuple[list[ReviewTask], int]:
    check_category(category)
    conditions = []
    if status is not None:
        conditions.append(ReviewTask.status == status)
    if category is not None:
        conditions.append(ReviewTask.category == category)
    if is_gold is not None:
        conditions.append(ReviewTask.is_gold.is_(is_gold))
    query = select(ReviewTask).where(*conditions).order_by(ReviewTask.rank.desc(), ReviewTask.id)
    total = session.execute(select(func.count()).select_from(ReviewTask).where(*conditions)).scalar_one()
    return list(session.execute(query.offset(offset).limit(limit)).scalars()), int(total)


def cluster_duplicates(session: Session, cluster_id: int | None) -> int:
    """How many other items share an item's near-duplicate cluster (0 when it has none)."""
    if cluster_id is None:
        return 0
    count = session.execute(
        select(func.count()).select_from(ContentItem).where(ContentItem.cluster_id == cluster_id)
    ).scalar_one()
    return max(0, int(count) - 1)


# --- Jobs (``fn(ctx, **args)``: open their own sessions, idempotent) -----------------------------


# After a sync created this many tasks, PostgreSQL's planner statistics for review_tasks are
# refreshed at once: planned without them, the claim sorts every open task (docs/performance.md).
ANALYZE_AFTER_TASKS = 1000


def sync_tasks_job(ctx: Context) -> int:
    """Drain untriaged scores into tasks, one committed batch at a time; returns tasks created."""
    created = 0
    while True:
        with ctx.sessions.begin() as session:
            result = sync_tasks_from_scores(session, ctx.settings)
        created += result.created + result.exploration
        if result.scores_seen < ctx.settings.triage_sync_batch_size:
            break
    if created >= ANALYZE_AFTER_TASKS and ctx.engine.dialect.name == "postgresql":
        with ctx.engine.begin() as connection:
            connection.execute(text("ANALYZE review_tasks"))
    return created


def expire_leases_job(ctx: Context) -> int:
    """Clear lapsed leases (claims already skip them; this keeps lists and statistics tidy)."""
    with ctx.sessions.begin() as session:
        return expire_leases(session)
