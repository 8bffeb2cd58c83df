"""Statistics for moderators, admins and ML staff: queue, decisions, agreement, police outcomes.

Everything is computed from the store of record. Daily buckets and medians are computed in
Python over the chosen window (default 30 days) so the same code runs on SQLite and PostgreSQL.
"""

from __future__ import annotations

import statistics
from collections import Counter, defaultdict
from collections.abc import Sequence
from datetime import UTC, date, datetime, timedelta

from pydantic import BaseModel, ConfigDict
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from saqshy.db.models import Case, CaseOutcome, CaseStatus, ReviewTask, TaskStatus, Verdict, Vote
from saqshy.timeutil import as_utc, utcnow
from triage_api.services.takedown import TakedownStats, takedown_stats

UNCATEGORISED = "uncategorised"


class QueueDepth(BaseModel):
    model_config = ConfigDict(frozen=True)

    category: str
    open: int
    needs_moderator: int


class DayCount(BaseModel):
    model_config = ConfigDict(frozen=True)

    day: date
    decisions: int
    illegal: int
    legal: int
    unsure: int


class Agreement(BaseModel):
    """Between volunteers (moderator decisions excluded) on tasks with at least two votes."""

    model_config = ConfigDict(frozen=True)

    tasks: int
    pairs: int
    pairwise_agreement: float | None
    # Fleiss' kappa for a varying number of raters per task: agreement beyond chance.
    fleiss_kappa: float | None


class Stats(BaseModel):
    window_days: int
    generated_at: datetime
    queue_depth: Sequence[QueueDepth]
    decisions_per_day: Sequence[DayCount]
    decisions_in_window: int
    median_hours_to_decision: float | None
    agreement: Agreement
    cases_by_status: dict[str, int]
    cases_by_outcome: dict[str, int]
    takedown: TakedownStats


def queue_depth(session: Session) -> list[QueueDepth]:
    rows = session.execute(
        select(ReviewTask.category, ReviewTask.status, func.count())
        .where(ReviewTask.status.in_([TaskStatus.OPEN, TaskStatus.NEEDS_MODERATOR]))
        .group_by(ReviewTask.category, ReviewTask.status)
    ).all()
    depth: dict[str, dict[TaskStatus, int]] = defaultdict(dict)
    for category, task_status, count in rows:
        depth[category or UNCATEGORISED][TaskStatus(task_status)] = int(count)
    return [
        QueueDepth(category=c, open=v.get(TaskStatus.OPEN, 0), needs_moderator=v.get(TaskStatus.NEEDS_MODERATOR, 0))
        for c, v in sorted(depth.items())
    ]


def decisions(session: Session, since: datetime, today: date) -> tuple[list[DayCount], float | None, int]:
    rows = session.execute(
        select(ReviewTask.decided_at, ReviewTask.created_at, ReviewTask.decision).where(
            ReviewTask.status == TaskStatus.DECIDED, ReviewTask.decided_at >= since
        )
    ).all()
    per_day: dict[date, Counter[str]] = defaultdict(Counter)
    hours: list[float] = []
    for decided_at, created_at, decision in rows:
        if decided_at is None:  # excluded by the query; keeps the type checker honest
            continue
        decided = as_utc(decided_at)
        per_day[decided.date()][Verdict(decision).value if decision else "none"] += 1
        hours.append(max(0.0, (decided - as_utc(created_at)).total_seconds() / 3600))
    days: list[DayCount] = []
    day = since.date()
    while day <= today:
        counts = per_day.get(day, Counter())
        days.append(
            DayCount(
                day=day,
                decisions=sum(counts.values()),
                illegal=counts[Verdict.ILLEGAL.value],
                legal=counts[Verdict.LEGAL.value],
                unsure=counts[Verdict.UNSURE.value],
            )
        )
        day += timedelta(days=1)
    return days, (statistics.median(hours) if hours else None), len(rows)


def agreement(session: Session, since: datetime) -> Agreement:
    votes = session.execute(
        select(Vote.task_id, Vote.verdict).where(Vote.is_moderator_decision.is_(False), Vote.created_at >= since)
    ).all()
    by_task: dict[int, Counter[str]] = defaultdict(Counter)
    for task_id, verdict in votes:
        by_task[task_id][Verdict(verdict).value] += 1
    rated = [counts for counts in by_task.values() if sum(counts.values()) >= 2]
    if not rated:
        return Agreement(tasks=0, pairs=0, pairwise_agreement=None, fleiss_kappa=None)
    agreeing_pairs = 0
    pairs = 0
    per_task_agreement: list[float] = []
    totals: Counter[str] = Counter()
    for counts in rated:
        n = sum(counts.values())
        same = sum(c * (c - 1) for c in counts.values())  # ordered agreeing pairs
        agreeing_pairs += same // 2
        pairs += n * (n - 1) // 2
        per_task_agreement.append(same / (n * (n - 1)))
        totals.update(counts)
    all_votes = sum(totals.values())
    p_bar = sum(per_task_agreement) / len(per_task_agreement)
    p_e = sum((c / all_votes) ** 2 for c in totals.values())
    kappa = None if p_e >= 1.0 else (p_bar - p_e) / (1.0 - p_e)
    return Agreement(
        tasks=len(rated), pairs=pairs, pairwise_agreement=agreeing_pairs / pairs if pairs else None, fleiss_kappa=kappa
    )


def case_counts(session: Session) -> tuple[dict[str, int], dict[str, int]]:
    by_status = {s.value: 0 for s in CaseStatus}
    for case_status, count in session.execute(select(Case.status, func.count()).group_by(Case.status)):
        by_status[CaseStatus(case_status).value] = int(count)
    by_outcome = {o.value: 0 for o in CaseOutcome}
    by_outcome["none"] = 0
    for outcome, count in session.execute(select(Case.outcome, func.count()).group_by(Case.outcome)):
        by_outcome[CaseOutcome(outcome).value if outcome else "none"] = int(count)
    return by_status, by_outcome


def compute_stats(session: Session, *, days: int = 30, now: datetime | None = None) -> Stats:
    now = now or utcnow()
    today = now.date()
    since = datetime.combine(today - timedelta(days=days - 1), datetime.min.time(), tzinfo=UTC)
    per_day, median_hours, decided = decisions(session, since, today)
    by_status, by_outcome = case_counts(session)
    return Stats(
        window_days=days,
        generated_at=now,
        queue_depth=queue_depth(session),
        decisions_per_day=per_day,
        decisions_in_window=decided,
        median_hours_to_decision=median_hours,
        agreement=agreement(session, since),
        cases_by_status=by_status,
        cases_by_outcome=by_outcome,
        takedown=takedown_stats(session),
    )
