"""Statistics: queue depth, decisions per day, time to decision, agreement, police outcomes."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session, sessionmaker

from saqshy.context import Context
from saqshy.db.models import CaseOutcome, ReviewTask, Role, TaskStatus, User, Verdict, utcnow
from saqshy.settings import Settings
from tests.triage_api.escalation_factories import make_decided_task, make_item, make_user
from triage_api.services import cases, stats


def _seed(session: Session, settings: Settings) -> None:
    now = utcnow()
    police = make_user(session, Role.POLICE)
    a, b, c = make_user(session), make_user(session), make_user(session)
    # Three volunteers agree on one task, split 2:1 on another; one task has a single vote.
    agreed = make_decided_task(session, make_item(session, settings), voters=[a, b, c])
    split = make_decided_task(
        session,
        make_item(session, settings),
        Verdict.LEGAL,
        voters=[a, b, c],
        votes=[Verdict.LEGAL, Verdict.LEGAL, Verdict.ILLEGAL],
    )
    make_decided_task(session, make_item(session, settings), Verdict.LEGAL, voters=[a])
    for task, hours_ago, took in ((agreed, 1, 2), (split, 30, 4)):
        task.created_at = now - timedelta(hours=hours_ago + took)
        task.decided_at = now - timedelta(hours=hours_ago)
    for status, category in (
        (TaskStatus.OPEN, "drugs"),
        (TaskStatus.OPEN, "drugs"),
        (TaskStatus.NEEDS_MODERATOR, "fraud"),
        (TaskStatus.OPEN, None),
    ):
        session.add(
            ReviewTask(item_id=make_item(session, settings, with_warc=False).id, category=category, status=status)
        )
    case = cases.open_case(session, agreed, settings, None)
    cases.set_outcome(session, case.id, police.id, CaseOutcome.TAKEDOWN_REQUESTED, settings)
    session.flush()


def test_compute_stats(sessions: sessionmaker[Session], settings: Settings) -> None:
    with sessions.begin() as session:
        _seed(session, settings)
    with sessions() as session:
        result = stats.compute_stats(session, days=7)
    depth = {(q.category, q.open, q.needs_moderator) for q in result.queue_depth}
    assert depth == {("drugs", 2, 0), ("fraud", 0, 1), ("uncategorised", 1, 0)}
    assert len(result.decisions_per_day) == 7
    assert result.decisions_in_window == 3
    assert sum(d.decisions for d in result.decisions_per_day) == 3
    assert sum(d.illegal for d in result.decisions_per_day) == 1
    assert result.median_hours_to_decision is not None
    # Pairs: agreed task 3 of 3 agree, split task 1 of 3 agree -> 4/6.
    assert result.agreement.tasks == 2 and result.agreement.pairs == 6
    assert result.agreement.pairwise_agreement == pytest.approx(4 / 6)
    # Fleiss: P̄ = (1 + 1/3)/2 = 2/3; p(illegal) = 4/6, p(legal) = 2/6; Pe = 5/9; kappa = 0.25.
    assert result.agreement.fleiss_kappa == pytest.approx(0.25)
    assert result.cases_by_status["closed"] == 1
    assert result.cases_by_outcome["takedown_requested"] == 1 and result.cases_by_outcome["none"] == 0
    assert result.takedown.cases == 1 and result.takedown.share_offline == 0.0


def test_empty_store(sessions: sessionmaker[Session]) -> None:
    with sessions() as session:
        result = stats.compute_stats(session)
    assert result.queue_depth == [] and result.median_hours_to_decision is None
    assert result.agreement.fleiss_kappa is None and result.takedown.median_hours_to_offline is None


def test_stats_api(
    client: TestClient, ctx: Context, make_user: Callable[..., User], auth_headers: Callable[[User], dict[str, str]]
) -> None:
    with ctx.sessions.begin() as session:
        _seed(session, ctx.settings)
    body = client.get("/stats?days=3", headers=auth_headers(make_user(Role.MODERATOR)))
    assert body.status_code == 200, body.text
    assert body.json()["window_days"] == 3 and len(body.json()["decisions_per_day"]) == 3
    assert client.get("/stats", headers=auth_headers(make_user(Role.POLICE))).status_code == 200
    assert client.get("/stats", headers=auth_headers(make_user(Role.VOLUNTEER))).status_code == 403
    assert client.get("/stats?days=0", headers=auth_headers(make_user(Role.ADMIN))).status_code == 422
