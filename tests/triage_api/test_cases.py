"""Cases: opening (idempotent), acknowledgement, outcomes, what flows back to volunteers and labels."""

from __future__ import annotations

import threading

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from saqshy.db.models import AuditEntry, Case, CaseOutcome, CaseStatus, ReviewTask, Role, TaskStatus, Verdict
from saqshy.errors import InvalidTransition, NotFound
from saqshy.settings import Settings
from tests.triage_api.escalation_factories import make_decided_task, make_item, make_source, make_user
from triage_api.services import cases


def _audit_actions(session: Session) -> list[str]:
    return list(session.scalars(select(AuditEntry.action).order_by(AuditEntry.id)))


def test_open_case_is_idempotent_and_audited(sessions: sessionmaker[Session], settings: Settings) -> None:
    with sessions.begin() as session:
        item = make_item(session, settings)
        task = make_decided_task(session, item, voters=[make_user(session), make_user(session)])
        first = cases.open_case(session, task, settings, actor_id=None)
        again = cases.open_case(session, task, settings, actor_id=None)
        assert again.id == first.id
        assert first.status == CaseStatus.NEW
        assert first.category == "drugs"
        # Sealing the bundle is left to a job after commit: the deciding vote stays fast.
        assert first.evidence_path is None and first.item_snapshot["url"] == item.url
        sealed = cases.ensure_evidence(session, first.id, settings)
        assert sealed.evidence_sha256 and sealed.evidence_path
        cases.ensure_evidence(session, first.id, settings)
    with sessions.begin() as session:
        reloaded = session.get(ReviewTask, task.id)
        assert reloaded is not None
        assert cases.open_case(session, reloaded, settings, None).id == first.id
        assert session.scalar(select(func.count()).select_from(Case)) == 1
        assert _audit_actions(session).count("case.opened") == 1
        assert _audit_actions(session).count("case.evidence_sealed") == 1


def test_only_a_task_decided_illegal_becomes_a_case(sessions: sessionmaker[Session], settings: Settings) -> None:
    with sessions.begin() as session:
        legal = make_decided_task(session, make_item(session, settings), Verdict.LEGAL)
        with pytest.raises(InvalidTransition):
            cases.open_case(session, legal, settings, None)
        open_task = make_decided_task(session, make_item(session, settings))
        open_task.status = TaskStatus.OPEN
        with pytest.raises(InvalidTransition):
            cases.open_case(session, open_task, settings, None)


def test_acknowledge_then_outcome(sessions: sessionmaker[Session], settings: Settings) -> None:
    with sessions.begin() as session:
        police = make_user(session, Role.POLICE)
        case = cases.open_case(session, make_decided_task(session, make_item(session, settings)), settings, None)
    with sessions.begin() as session:
        acked = cases.acknowledge_case(session, case.id, police.id)
        assert acked.status == CaseStatus.ACKNOWLEDGED and acked.acknowledged_by_id == police.id
    with sessions.begin() as session, pytest.raises(InvalidTransition):
        cases.acknowledge_case(session, case.id, police.id)
    with sessions.begin() as session:
        closed = cases.set_outcome(session, case.id, police.id, CaseOutcome.TAKEDOWN_REQUESTED, settings, "sent")
        assert closed.status == CaseStatus.CLOSED and closed.outcome == CaseOutcome.TAKEDOWN_REQUESTED
        # A repeat is a no-op; a different outcome is a correction.
        cases.set_outcome(session, case.id, police.id, CaseOutcome.TAKEDOWN_REQUESTED, settings, "sent")
        cases.set_outcome(session, case.id, police.id, CaseOutcome.CRIMINAL_CASE_OPENED, settings)
    with sessions() as session:
        actions = _audit_actions(session)
        assert actions.count("case.acknowledged") == 1
        assert actions.count("case.outcome_set") == 2
        with pytest.raises(NotFound):
            cases.acknowledge_case(session, 10_000, police.id)


def test_outcome_without_acknowledgement_acknowledges(sessions: sessionmaker[Session], settings: Settings) -> None:
    with sessions.begin() as session:
        police = make_user(session, Role.POLICE)
        case = cases.open_case(session, make_decided_task(session, make_item(session, settings)), settings, None)
        closed = cases.set_outcome(session, case.id, police.id, CaseOutcome.DUPLICATE, settings)
        assert closed.acknowledged_at is not None and closed.acknowledged_by_id == police.id


def test_outcomes_flow_back_to_volunteers_and_labels(sessions: sessionmaker[Session], settings: Settings) -> None:
    with sessions.begin() as session:
        police = make_user(session, Role.POLICE)
        yes, no = make_user(session), make_user(session)
        confirmed = make_decided_task(
            session,
            make_item(session, settings, language="kk"),
            voters=[yes, no],
            votes=[Verdict.ILLEGAL, Verdict.LEGAL],
        )
        overturned = make_decided_task(session, make_item(session, settings), voters=[yes])
        legal = make_decided_task(session, make_item(session, settings), Verdict.LEGAL, voters=[no])
        unsure = make_decided_task(session, make_item(session, settings), Verdict.UNSURE)
        first = cases.open_case(session, confirmed, settings, None)
        second = cases.open_case(session, overturned, settings, None)
    with sessions.begin() as session:
        cases.set_outcome(session, first.id, police.id, CaseOutcome.CRIMINAL_CASE_OPENED, settings, "case 123/2026")
        cases.set_outcome(session, second.id, police.id, CaseOutcome.NOT_ILLEGAL, settings)
    with sessions() as session:
        mine, count = cases.volunteer_outcomes(session, yes.id)
        assert count == 2
        assert {(o.case_id, o.outcome) for o in mine} == {
            (first.id, CaseOutcome.CRIMINAL_CASE_OPENED),
            (second.id, CaseOutcome.NOT_ILLEGAL),
        }
        # Voting legal is not helping to confirm.
        assert cases.volunteer_outcomes(session, no.id) == ([], 0)

        labels = {label.task_id: label for label in cases.training_labels(session)}
        assert unsure.id not in labels
        assert (labels[confirmed.id].label, labels[confirmed.id].label_source) == (Verdict.ILLEGAL, "police")
        assert labels[confirmed.id].category == "drugs"
        assert (labels[overturned.id].label, labels[overturned.id].label_source) == (Verdict.LEGAL, "police")
        assert labels[overturned.id].category is None
        assert (labels[legal.id].label, labels[legal.id].label_source) == (Verdict.LEGAL, "consensus")
        page = cases.training_labels(session, limit=1)
        assert [label.task_id for label in page] == [confirmed.id]
        assert [label.task_id for label in cases.training_labels(session, after_task_id=confirmed.id, limit=1)] == [
            overturned.id
        ]
        assert [label.task_id for label in cases.training_labels(session, language="kk")] == [confirmed.id]


def test_list_cases_filters_and_paginates(sessions: sessionmaker[Session], settings: Settings) -> None:
    with sessions.begin() as session:
        police = make_user(session, Role.POLICE)
        opened = [
            cases.open_case(session, make_decided_task(session, make_item(session, settings)), settings, None)
            for _ in range(3)
        ]
        cases.acknowledge_case(session, opened[0].id, police.id)
    with sessions() as session:
        rows, count = cases.list_cases(session, limit=2)
        assert count == 3 and len(rows) == 2
        rows, count = cases.list_cases(session, status=CaseStatus.ACKNOWLEDGED)
        assert count == 1 and rows[0].id == opened[0].id


def test_case_updates_source_risk(sessions: sessionmaker[Session], settings: Settings) -> None:
    with sessions.begin() as session:
        source = make_source(session)
        case = cases.open_case(
            session, make_decided_task(session, make_item(session, settings, source=source)), settings, None
        )
        session.refresh(source)
        assert source.reviewed_count == 0  # the roll-up is the job's, after commit
        cases.ensure_evidence(session, case.id, settings)
        session.refresh(source)
        assert source.reviewed_count == 1 and source.illegal_count == 1
        assert source.risk_score == pytest.approx(1 / (1 + settings.source_risk_prior_weight))
    with sessions() as session:  # audit entries are written when their transaction commits
        assert "source.risk_changed" in _audit_actions(session)


def test_racing_escalations_make_one_case(sessions: sessionmaker[Session], settings: Settings) -> None:
    """Two transactions escalating the same task at once (PostgreSQL lets both try): one case."""
    with sessions.begin() as session:
        task_id = make_decided_task(session, make_item(session, settings)).id
    # SQLite serialises writers at BEGIN: there the second simply waits, and no barrier can be met.
    racing = sessions.kw["bind"].dialect.name != "sqlite"
    barrier = threading.Barrier(2)
    found: list[int] = []
    errors: list[BaseException] = []

    def escalate() -> None:
        try:
            with sessions.begin() as session:
                task = session.get(ReviewTask, task_id)
                assert task is not None
                if racing:
                    barrier.wait(timeout=10)
                found.append(cases.open_case(session, task, settings, None).id)
        except BaseException as exc:  # reported below, not lost in the thread
            errors.append(exc)

    threads = [threading.Thread(target=escalate) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not errors, errors
    assert len(found) == 2 and found[0] == found[1]
    with sessions() as session:
        assert session.scalar(select(func.count()).select_from(Case)) == 1
        assert _audit_actions(session).count("case.opened") == 1
