"""Many volunteers claiming and voting at once: running them together, and the invariants checked after;
the audit log growing while it is verified."""

from __future__ import annotations

import threading
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from saqshy.db.models import AuditEntry, ReviewTask, TaskStatus, Vote
from saqshy.settings import Settings
from triage_api.services.audit import VerifyResult, append_audit, verify_audit_chain


def run_together(volunteer: Callable[[int], None], count: int, *, timeout: float) -> None:
    """``volunteer(0)`` to ``volunteer(count - 1)``, each on a thread of its own, all at once; waits for them."""
    threads = [threading.Thread(target=volunteer, args=(index,)) for index in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=timeout)


def check_invariants(session: Session, settings: Settings, accepted_votes: int) -> dict[str, int]:
    """No task leased to two volunteers at once, no vote lost, decided tasks have exactly their votes."""
    problems: list[str] = []
    # The audit log is linear (its head is locked per append), so it orders every claim and vote.
    holder: dict[str, int | None] = defaultdict(lambda: None)
    for action, actor, entity in session.execute(
        select(AuditEntry.action, AuditEntry.actor_id, AuditEntry.entity_id)
        .where(AuditEntry.action.in_(["task.claim", "vote.cast", "task.release"]))
        .order_by(AuditEntry.id)
    ):
        assert entity is not None
        if action == "task.claim":
            if holder[entity] is not None:
                problems.append(f"task {entity} claimed by {actor} while leased to {holder[entity]}")
            holder[entity] = actor
        else:
            if holder[entity] != actor:
                problems.append(f"task {entity}: {action} by {actor} who did not hold the lease")
            holder[entity] = None
    votes = session.execute(select(Vote).where(Vote.is_moderator_decision.is_(False))).scalars().all()
    if len(votes) != accepted_votes:
        problems.append(f"{accepted_votes} votes accepted but {len(votes)} stored")
    per_task: dict[int, list[Vote]] = defaultdict(list)
    for vote in votes:
        per_task[vote.task_id].append(vote)
    counts = {"decided": 0, "needs_moderator": 0, "open": 0}
    for task in session.execute(select(ReviewTask)).scalars():
        mine = per_task.get(task.id, [])
        if len({v.user_id for v in mine}) != len(mine):
            problems.append(f"task {task.id} has two votes from one volunteer")
        if task.vote_count != len(mine):
            problems.append(f"task {task.id} counts {task.vote_count} votes but has {len(mine)}")
        counts[task.status.value] = counts.get(task.status.value, 0) + 1
        if task.status == TaskStatus.DECIDED and len(mine) != settings.triage_votes_needed:
            needed = settings.triage_votes_needed
            problems.append(f"decided task {task.id} has {len(mine)} votes, the rule needs {needed}")
        if task.status == TaskStatus.DECIDED and len({(v.verdict, v.category) for v in mine}) != 1:
            problems.append(f"decided task {task.id} has disagreeing votes")
        if task.status == TaskStatus.OPEN and len(mine) >= settings.triage_max_votes:
            problems.append(f"open task {task.id} has {len(mine)} votes")
    chain = verify_audit_chain(session)
    if not chain.ok:
        problems.extend(chain.problems)
    assert not problems, "\n".join(problems[:30])
    return counts


@contextmanager
def audit_log_growing(sessions: sessionmaker[Session], *, then: Callable[[], object] = lambda: None) -> Iterator[None]:
    """A thread that keeps committing audit entries (chained at commit), calling ``then`` after each."""
    stop = threading.Event()
    errors: list[BaseException] = []

    def grow() -> None:
        try:
            while not stop.is_set():
                with sessions.begin() as session:
                    append_audit(session, actor_id=None, action="test.event", entity_type="t", entity_id=None,
                                 payload={"text": "Қазақша"})
                then()
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    thread = threading.Thread(target=grow)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()
    assert not errors, errors


def verify_repeatedly(verify: Callable[[], VerifyResult], seconds: float = 2.0) -> list[VerifyResult]:
    """``verify()`` again and again for ``seconds`` (five times at least); every result."""
    results = []
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline or len(results) < 5:
        results.append(verify())
    return results
