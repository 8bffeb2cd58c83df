"""The hash-chained audit log detects edited, removed, truncated and appended entries (both engines)."""

from __future__ import annotations

from itertools import pairwise

from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session, sessionmaker
from typer.testing import CliRunner

from saqshy.db.models import AuditEntry
from triage_api.services.audit import GENESIS_HASH, append_audit, hash_of, verify_audit_chain


def _fill(sessions: sessionmaker[Session], n: int = 5) -> list[int]:
    ids = []
    for i in range(n):
        with sessions.begin() as session:
            entry = append_audit(session, actor_id=None, action="test.event", entity_type="thing", entity_id=i,
                                 payload={"n": i, "text": "Қазақша, русский", "f": 0.1})
            assert entry.id is None  # written at commit
        ids.append(entry.id)
    return ids


def _verify(sessions: sessionmaker[Session]):  # type: ignore[no-untyped-def]
    with sessions() as session:
        return verify_audit_chain(session)


def test_intact_chain_verifies(sessions: sessionmaker[Session]) -> None:
    assert _verify(sessions).ok and _verify(sessions).head_hash == GENESIS_HASH
    ids = _fill(sessions)
    result = _verify(sessions)
    assert result.ok, result.problems
    assert result.entries == len(ids)
    with sessions() as session:
        entries = session.execute(select(AuditEntry).order_by(AuditEntry.id)).scalars().all()
    assert entries[0].prev_hash == GENESIS_HASH
    assert all(b.prev_hash == a.hash for a, b in pairwise(entries))


def test_edited_entry_is_detected(sessions: sessionmaker[Session]) -> None:
    ids = _fill(sessions)
    with sessions.begin() as session:
        session.execute(update(AuditEntry).where(AuditEntry.id == ids[2]).values(payload={"n": 99}))
    result = _verify(sessions)
    assert not result.ok and result.first_bad_id == ids[2]


def test_edited_actor_is_detected(sessions: sessionmaker[Session]) -> None:
    ids = _fill(sessions)
    with sessions.begin() as session:
        session.execute(update(AuditEntry).where(AuditEntry.id == ids[1]).values(action="other"))
    assert _verify(sessions).first_bad_id == ids[1]


def test_removed_entry_is_detected(sessions: sessionmaker[Session]) -> None:
    ids = _fill(sessions)
    with sessions.begin() as session:
        session.execute(delete(AuditEntry).where(AuditEntry.id == ids[2]))
    result = _verify(sessions)
    assert not result.ok and result.first_bad_id == ids[3]


def test_truncated_tail_is_detected(sessions: sessionmaker[Session]) -> None:
    ids = _fill(sessions)
    with sessions.begin() as session:
        session.execute(delete(AuditEntry).where(AuditEntry.id == ids[-1]))
    result = _verify(sessions)
    assert not result.ok
    assert any("head" in p for p in result.problems)


def test_entry_chained_beyond_the_head_is_detected(sessions: sessionmaker[Session]) -> None:
    _fill(sessions, 3)
    with sessions.begin() as session:  # a well-formed fourth link, written without moving the head
        last = session.execute(select(AuditEntry).where(AuditEntry.seq == 3)).scalar_one()
        forged = AuditEntry(at=last.at, actor_id=None, action="test.event", entity_type="thing", entity_id="x",
                            payload={}, seq=4, prev_hash=last.hash)
        forged.hash = hash_of(forged, prev_hash=last.hash or "")
        session.add(forged)
    result = _verify(sessions)
    assert not result.ok and result.entries == 3
    assert any("beyond the head" in p for p in result.problems), result.problems


def test_cli_audit_verify(ctx, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    from saqshy import cli as saqshy_cli

    monkeypatch.setattr(saqshy_cli, "settings", lambda: ctx.settings)
    saqshy_cli._mount_sub_apps()
    _fill(ctx.sessions, 3)
    runner = CliRunner()
    ok = runner.invoke(saqshy_cli.app, ["audit", "verify"])
    assert ok.exit_code == 0, ok.output
    assert "3 entries" in ok.output
    with ctx.sessions.begin() as session:
        session.execute(update(AuditEntry).where(AuditEntry.id == 2).values(entity_id="tampered"))
    bad = runner.invoke(saqshy_cli.app, ["audit", "verify"])
    assert bad.exit_code == 1
    assert "entry 2" in bad.output
