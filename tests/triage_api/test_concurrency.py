"""Many volunteers claiming and voting at once, through the service layer (SQLite and PostgreSQL)."""

from __future__ import annotations

import random
import threading

from saqshy.context import Context
from saqshy.db.models import Role, User, Verdict
from saqshy.errors import Conflict
from tests.triage_api.concurrency import check_invariants, run_together
from tests.triage_api.triage_factories import claim_task, make_tasks
from triage_api.services import votes

VOLUNTEERS = 12
TASKS = 30


def test_concurrent_claims_never_share_a_lease(any_ctx: Context, make_user) -> None:  # type: ignore[no-untyped-def]
    make_tasks(any_ctx.sessions, TASKS)
    people: list[User] = [make_user(Role.VOLUNTEER) for _ in range(VOLUNTEERS)]
    accepted = [0] * VOLUNTEERS
    errors: list[BaseException] = []
    start = threading.Barrier(VOLUNTEERS)

    def work(index: int) -> None:
        rng = random.Random(index)
        try:
            start.wait()
            while True:
                with any_ctx.sessions.begin() as session:
                    user = session.get(User, people[index].id)
                    assert user is not None
                    task = claim_task(session, any_ctx.settings, user, rng=rng)
                    task_id = task.id if task else None
                if task_id is None:
                    return
                verdict = rng.choices([Verdict.LEGAL, Verdict.ILLEGAL, Verdict.UNSURE], [7, 2, 1])[0]
                try:
                    with any_ctx.sessions.begin() as session:
                        user = session.get(User, people[index].id)
                        assert user is not None
                        votes.cast_vote(session, any_ctx.settings, user, task_id, verdict=verdict,
                                        category="drugs" if verdict == Verdict.ILLEGAL else None, note=None)
                    accepted[index] += 1
                except Conflict as exc:  # a lost lease would be a broken invariant
                    errors.append(exc)
                    return
        except BaseException as exc:
            errors.append(exc)

    run_together(work, VOLUNTEERS, timeout=300)
    assert not errors, errors[:3]
    # A volunteer stops when nothing is claimable for them at that moment, which can be while
    # others still hold leases: finish the remaining votes one volunteer at a time.
    progress = True
    while progress:
        progress = False
        for index in range(VOLUNTEERS):
            with any_ctx.sessions.begin() as session:
                user = session.get(User, people[index].id)
                assert user is not None
                task = claim_task(session, any_ctx.settings, user)
                if task is None:
                    continue
                votes.cast_vote(session, any_ctx.settings, user, task.id, verdict=Verdict.LEGAL, category=None,
                                note=None)
            accepted[index] += 1
            progress = True
    with any_ctx.sessions() as session:
        counts = check_invariants(session, any_ctx.settings, sum(accepted))
    # Every task got its votes: decided, or with a moderator.
    assert counts["open"] == 0, counts
