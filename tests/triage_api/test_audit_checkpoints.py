"""Signed audit checkpoints: whoever can write the database can rewrite entries and recompute every
hash, and the chain alone then says "intact"; the checkpoints, signed with a key the database does
not hold and kept in a file outside it, no longer match."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session, sessionmaker
from typer.testing import CliRunner

from saqshy.context import Context
from saqshy.db.models import AuditEntry, AuditHead, Role
from saqshy.errors import Conflict
from saqshy.jobs.registry import registered_jobs
from saqshy.scheduler import periodic_jobs
from saqshy.settings import Settings
from tests.triage_api.concurrency import audit_log_growing, verify_repeatedly
from triage_api.services import audit_checkpoints
from triage_api.services.audit import GENESIS_HASH, VerifyResult, append_audit, hash_of, verify_audit_chain


def _fill(sessions: sessionmaker[Session], n: int) -> None:
    for i in range(n):
        with sessions.begin() as session:
            append_audit(session, actor_id=None, action="case.decide", entity_type="case", entity_id=i,
                         payload={"n": i, "verdict": "illegal"})


def _rewrite_and_rehash(sessions: sessionmaker[Session], *, position: int) -> None:
    """What a database writer can do: change one entry, recompute every hash after it and the head."""
    with sessions.begin() as session:
        entries = session.execute(select(AuditEntry).order_by(AuditEntry.seq)).scalars().all()
        previous = GENESIS_HASH
        for entry in entries:
            if entry.seq == position:
                entry.payload = {"n": -1, "verdict": "legal"}
            entry.prev_hash = previous
            entry.hash = previous = hash_of(entry, prev_hash=previous)
        session.execute(update(AuditHead).values(last_hash=previous))


def _verify(ctx: Context) -> VerifyResult:
    with ctx.sessions() as session:
        return audit_checkpoints.verify_audit_log(session, ctx.settings)


def test_rewritten_and_rehashed_chain_fails_against_its_checkpoint(ctx: Context) -> None:
    _fill(ctx.sessions, 5)
    assert _verify(ctx).ok  # and signs the head (position 5)
    _fill(ctx.sessions, 2)
    _rewrite_and_rehash(ctx.sessions, position=3)

    with ctx.sessions() as session:
        assert verify_audit_chain(session).ok  # the hash chain alone cannot tell
    result = _verify(ctx)
    assert not result.ok
    assert result.first_bad_position == 5 and result.checkpoints == 1
    assert any("rewritten" in problem for problem in result.problems)
    # A rewritten chain is never signed: no checkpoint was added.
    assert len(audit_checkpoints.read_checkpoints(ctx.settings)[0]) == 1


def test_checkpoint_file_and_key_live_outside_the_database(ctx: Context, settings: Settings) -> None:
    _fill(ctx.sessions, 2)
    _verify(ctx)
    path = audit_checkpoints.checkpoint_path(settings)
    assert path.parent.parent == settings.var_dir and audit_checkpoints.key_path(settings).exists()
    record = json.loads(path.read_text().splitlines()[-1])
    assert record["format"] == audit_checkpoints.FORMAT and record["position"] == 2
    assert record["key"].startswith("sha256:") and record["signature"]
    assert path.stat().st_mode & 0o077 == 0


def test_edited_checkpoint_fails_its_signature(ctx: Context, settings: Settings) -> None:
    _fill(ctx.sessions, 3)
    _verify(ctx)
    _rewrite_and_rehash(ctx.sessions, position=2)
    path = audit_checkpoints.checkpoint_path(settings)
    record = json.loads(path.read_text())
    with ctx.sessions() as session:
        record["hash"] = session.execute(select(AuditHead.last_hash)).scalar_one()  # "bless" the rewrite
    path.write_text(json.dumps(record) + "\n")
    result = _verify(ctx)
    assert not result.ok and any("signature" in problem for problem in result.problems)


def test_chain_cut_before_a_checkpoint_fails(ctx: Context) -> None:
    _fill(ctx.sessions, 4)
    _verify(ctx)
    with ctx.sessions.begin() as session:
        session.execute(delete(AuditEntry).where(AuditEntry.seq > 2))
        last = session.execute(select(AuditEntry).where(AuditEntry.seq == 2)).scalar_one()
        session.execute(update(AuditHead).values(last_id=last.id, last_hash=last.hash, entries=2))
    with ctx.sessions() as session:
        assert verify_audit_chain(session).ok
    result = _verify(ctx)
    assert not result.ok and result.first_bad_position == 4
    assert any("removed" in problem for problem in result.problems)


def test_checkpoint_job_signs_only_an_extended_chain(ctx: Context) -> None:
    assert audit_checkpoints.JOB_CHECKPOINT in registered_jobs()
    assert audit_checkpoints.JOB_CHECKPOINT in {entry.name for entry in periodic_jobs()}
    job = registered_jobs()[audit_checkpoints.JOB_CHECKPOINT].fn
    _fill(ctx.sessions, 3)
    job(ctx)
    job(ctx)  # the head has not moved: nothing new to sign
    assert [c.position for c in audit_checkpoints.read_checkpoints(ctx.settings)[0]] == [3]
    _fill(ctx.sessions, 1)
    _rewrite_and_rehash(ctx.sessions, position=1)
    with ctx.sessions() as session, pytest.raises(Conflict, match="position 3"):
        audit_checkpoints.write_checkpoint(session, ctx.settings)


def test_checkpoints_signed_while_a_verification_reads_are_not_tampering(ctx: Context) -> None:
    _fill(ctx.sessions, 3)
    sign = registered_jobs()[audit_checkpoints.JOB_CHECKPOINT].fn
    with audit_log_growing(ctx.sessions, then=lambda: sign(ctx)):
        results = verify_repeatedly(lambda: _verify(ctx))
    assert all(result.ok for result in results), next(r.problems for r in results if not r.ok)
    assert results[-1].checkpoints > 1


def test_cli_audit_verify_fails_with_the_position(ctx: Context, monkeypatch: pytest.MonkeyPatch) -> None:
    from saqshy import cli as saqshy_cli

    monkeypatch.setattr(saqshy_cli, "settings", lambda: ctx.settings)
    saqshy_cli._mount_sub_apps()
    _fill(ctx.sessions, 3)
    runner = CliRunner()
    ok = runner.invoke(saqshy_cli.app, ["audit", "verify"])
    assert ok.exit_code == 0 and "intact" in ok.output, ok.output
    _rewrite_and_rehash(ctx.sessions, position=1)
    bad = runner.invoke(saqshy_cli.app, ["audit", "verify"])
    assert bad.exit_code == 1
    assert "FAILED at position 3" in bad.output, bad.output


def test_api_audit_verify_reports_the_checkpoint(client, make_user, auth_headers, ctx) -> None:  # type: ignore[no-untyped-def]
    headers = auth_headers(make_user(Role.ADMIN))
    first = client.get("/audit/verify", headers=headers).json()
    assert first["ok"], first
    _rewrite_and_rehash(ctx.sessions, position=1)
    body = client.get("/audit/verify", headers=headers).json()
    assert not body["ok"] and body["checkpoints"] == 1 and body["first_bad_position"] == first["entries"]
