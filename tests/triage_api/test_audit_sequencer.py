"""Audit entries are chained after their transaction: by a sequencer thread, or inline without one.

Both engines: the chain stays linear and complete when many threads commit at once, an entry left
unchained is reported as pending and chained by ``verify --chain-first``, and a store written by
the previous scheme (chained inside each transaction, in id order) still verifies after the
migration that introduced sequencing.
"""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime

from sqlalchemy import Engine, insert, select, text, update
from sqlalchemy.orm import Session, sessionmaker

from saqshy.db.migrate import upgrade
from saqshy.db.models import AuditEntry, Role
from saqshy.db.session import make_engine, make_session_factory
from saqshy.settings import Settings
from tests.triage_api.concurrency import audit_log_growing, verify_repeatedly
from triage_api.services.audit import (
    GENESIS_HASH,
    AuditSequencer,
    VerifyResult,
    append_audit,
    chain_pending,
    entry_hash,
    verify_audit_chain,
)


def _append(sessions: sessionmaker[Session], n: int, actor: str = "t") -> list[AuditEntry]:
    entries = []
    for i in range(n):
        with sessions.begin() as session:
            entries.append(append_audit(session, actor_id=None, action="test.event", entity_type=actor,
                                        entity_id=i, payload={"i": i, "text": "Қазақша"}))
    return entries


def _verify(sessions: sessionmaker[Session], *, chain_first: bool = False) -> VerifyResult:
    with sessions() as session:
        if chain_first:
            chain_pending(session)
            session.commit()
        return verify_audit_chain(session)


def _wait_chained(sessions: sessionmaker[Session], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with sessions() as session:
            if session.execute(select(AuditEntry.id).where(AuditEntry.seq.is_(None)).limit(1)).first() is None:
                return
        time.sleep(0.02)
    raise AssertionError("entries were not chained in time")


def test_without_a_sequencer_entries_are_chained_at_commit(sessions: sessionmaker[Session]) -> None:
    entries = _append(sessions, 3)
    with sessions() as session:
        stored = session.execute(select(AuditEntry).order_by(AuditEntry.seq)).scalars().all()
        assert [e.id for e in stored] == [e.id for e in entries]
        assert [e.seq for e in stored] == [1, 2, 3]
        assert stored[0].prev_hash == GENESIS_HASH
        result = verify_audit_chain(session)
    assert result.ok and result.entries == 3 and result.pending == 0


def test_sequencer_chains_what_requests_commit(sql_engine: Engine, sessions: sessionmaker[Session]) -> None:
    sequencer = AuditSequencer(sql_engine, poll_seconds=0.2).start()
    try:
        entries = _append(sessions, 5)
        assert all(e.id is not None for e in entries)
        _wait_chained(sessions)
        assert sequencer.chained == 5 and sequencer.failures == 0
    finally:
        sequencer.stop()
    result = _verify(sessions)
    assert result.ok and result.entries == 5, result.problems
    # Stopped: commits chain inline again.
    _append(sessions, 1)
    assert _verify(sessions).entries == 6


def test_concurrent_commits_make_one_linear_chain(sql_engine: Engine, sessions: sessionmaker[Session]) -> None:
    sequencer = AuditSequencer(sql_engine, poll_seconds=0.2).start()
    errors: list[BaseException] = []

    def writer(name: str) -> None:
        try:
            _append(sessions, 15, actor=name)
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(f"w{n}",)) for n in range(6)]
    try:
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        _wait_chained(sessions)
    finally:
        sequencer.stop()
    assert not errors
    with sessions() as session:
        result = verify_audit_chain(session)
        seqs = session.execute(select(AuditEntry.seq).order_by(AuditEntry.seq)).scalars().all()
    assert result.ok and result.entries == 90, result.problems
    assert seqs == list(range(1, 91))


def test_entries_chained_while_a_verification_reads_are_not_tampering(sessions: sessionmaker[Session]) -> None:
    _append(sessions, 3)
    with audit_log_growing(sessions):
        results = verify_repeatedly(lambda: _verify(sessions))
    assert all(result.ok for result in results), next(r.problems for r in results if not r.ok)
    assert results[-1].entries > 3


def test_pending_entries_are_reported_and_chained_first(sql_engine: Engine, sessions: sessionmaker[Session]) -> None:
    _append(sessions, 2)
    # An entry whose process died before its sequencer chained it.
    with sessions.begin() as session:
        session.execute(insert(AuditEntry).values(at=datetime.now(UTC), action="late", entity_type="t", payload={}))
    before = _verify(sessions)
    assert before.ok and before.entries == 2 and before.pending == 1
    after = _verify(sessions, chain_first=True)
    assert after.ok and after.entries == 3 and after.pending == 0


def test_a_sequencer_picks_up_entries_left_by_another_process(
    sql_engine: Engine, sessions: sessionmaker[Session]
) -> None:
    with sessions.begin() as session:
        session.execute(insert(AuditEntry).values(at=datetime.now(UTC), action="orphan", entity_type="t", payload={}))
    sequencer = AuditSequencer(sql_engine, poll_seconds=0.05).start()
    try:
        _wait_chained(sessions)
    finally:
        sequencer.stop()
    with sessions() as session:
        assert verify_audit_chain(session).entries == 1


def test_unchaining_an_entry_is_detected(sessions: sessionmaker[Session]) -> None:
    entries = _append(sessions, 4)
    # Tampering that hides an entry as "not chained yet": its successor's link breaks.
    with sessions.begin() as session:
        session.execute(update(AuditEntry).where(AuditEntry.id == entries[1].id)
                        .values(seq=None, hash=None, prev_hash=None))
    with sessions() as session:
        result = verify_audit_chain(session)
    assert not result.ok and result.first_bad_id == entries[2].id


def test_chain_pending_is_idempotent(sessions: sessionmaker[Session], sql_engine: Engine) -> None:
    _append(sessions, 2)
    assert chain_pending(sql_engine) == 0
    with sessions() as session:
        assert verify_audit_chain(session).ok


def test_entries_chained_by_the_previous_scheme_still_verify(tmp_path, settings: Settings) -> None:  # type: ignore[no-untyped-def]
    engine = make_engine(settings, url=f"sqlite:///{tmp_path / 'old.db'}")
    try:
        upgrade(engine, "0002")
        previous = GENESIS_HASH
        with engine.begin() as connection:
            for n in range(3):
                at = datetime(2026, 11, 1, 12, n, tzinfo=UTC)
                digest = entry_hash(prev_hash=previous, at=at, actor_id=None, action="old", entity_type="t",
                                    entity_id=str(n), payload={"n": n})
                connection.execute(text(
                    "INSERT INTO audit_log (at, action, entity_type, entity_id, payload, prev_hash, hash) "
                    "VALUES (:at, 'old', 't', :eid, :payload, :prev, :hash)"),
                    {"at": at.replace(tzinfo=None).isoformat(sep=" "), "eid": str(n), "payload": f'{{"n": {n}}}',
                     "prev": previous, "hash": digest})
                previous = digest
            connection.execute(text("INSERT INTO audit_head (id, last_id, last_hash, entries) VALUES (1, 3, :h, 3)"),
                               {"h": previous})
        upgrade(engine)
        sessions = make_session_factory(engine)
        result = _verify(sessions)
        assert result.ok and result.entries == 3, result.problems
        _append(sessions, 1)
        assert _verify(sessions).entries == 4
    finally:
        engine.dispose()


def test_health_reports_the_sequencer(client, ctx, make_user, auth_headers) -> None:  # type: ignore[no-untyped-def]
    from triage_api.services.audit import sequencer_for

    headers = auth_headers(make_user(Role.ADMIN))
    body = client.get("/health/details", headers=headers).json()
    audit = next(c for c in body["components"] if c["name"] == "audit")
    assert audit["backend"] == "sequencer" and audit["ok"], audit
    sequencer = sequencer_for(ctx.engine)
    assert sequencer is not None
    sequencer.consecutive_failures, sequencer.last_error = 3, "OperationalError: the database is restarting"
    try:
        body = client.get("/health/details", headers=headers).json()
    finally:
        sequencer.consecutive_failures = 0
    audit = next(c for c in body["components"] if c["name"] == "audit")
    assert not audit["ok"] and "restarting" in audit["detail"] and body["status"] == "degraded"
