"""Content retention: what is due goes with its WARC records and media; cases are on legal hold."""

from __future__ import annotations

import hashlib
import os
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from crawlers.evidence import Fetch, WarcEvidenceWriter, read_response
from saqshy.db.models import AuditEntry, ContentItem, OutboxOp, SearchOutbox, TaskStatus, Verdict, utcnow
from saqshy.settings import Settings
from tests.triage_api.escalation_factories import add_score, make_decided_task, make_item, make_user
from triage_api.services import cases
from triage_api.services.retention import run_retention

OLD = datetime(2026, 1, 10, 12, 0, tzinfo=UTC)


@pytest.fixture
def retention_settings(settings: Settings) -> Settings:
    return settings.model_copy(update={"retention_days": {"default": 30, "weapons": 0}})


def _two_records_in_one_warc(settings: Settings) -> list[tuple[str, int, int, bytes]]:
    writer = WarcEvidenceWriter(settings.evidence_dir)
    written = []
    for n in (1, 2):
        body = f"<html><body>page {n}</body></html>".encode()
        fetch = Fetch(url=f"https://shared.example/{n}", method="GET", request_headers=[], request_body=b"",
                      status=200, protocol="HTTP/1.1", response_headers=[("Content-Type", "text/html")],
                      body=body, fetched_at=OLD, server_ip="203.0.113.9")
        evidence = writer.write(fetch)
        written.append((evidence.path, evidence.offset, evidence.length, body))
    writer.close()
    os.utime(written[0][0], (time.time() - 7200, time.time() - 7200))  # no crawler has it open any more
    return written


def _item_in(session: Session, settings: Settings, record: tuple[str, int, int, bytes], **overrides: object):
    path, offset, length, body = record
    return make_item(session, settings, with_warc=False, evidence_path=path, evidence_offset=offset,
                     evidence_length=length, sha256=hashlib.sha256(body).hexdigest(), fetched_at=OLD, **overrides)


def test_due_items_go_with_their_records_and_cases_stay(
    sessions: sessionmaker[Session], retention_settings: Settings
) -> None:
    settings = retention_settings
    first, second = _two_records_in_one_warc(settings)
    with sessions.begin() as session:
        never_flagged = _item_in(session, settings, first, text="ordinary page")
        in_case = _item_in(session, settings, second, text="закладки мефедрон")
        add_score(session, in_case)
        task = make_decided_task(session, in_case, Verdict.ILLEGAL, voters=[make_user(session), make_user(session)])
        cases.open_case(session, task, settings, actor_id=None)
        legal = make_item(session, settings, fetched_at=OLD, text="news about a drug bust")
        make_decided_task(session, legal, Verdict.LEGAL, voters=[make_user(session), make_user(session)])
        recent = make_item(session, settings, with_warc=False, fetched_at=utcnow(), text="fetched today")
        kept_for_ever = make_item(session, settings, fetched_at=OLD, text="hunting shop")
        add_score(session, kept_for_ever, category="weapons", score=0.1)
        ids = {name: item.id for name, item in [("never_flagged", never_flagged), ("in_case", in_case),
                                                 ("legal", legal), ("recent", recent), ("weapons", kept_for_ever)]}
    for path in settings.evidence_dir.rglob("*.warc.gz"):
        os.utime(path, (time.time() - 7200, time.time() - 7200))

    dry = run_retention(sessions, settings, dry_run=True)
    assert dry.purged == {"default": 1, "drugs": 1} and dry.held == 0
    with sessions() as session:
        assert session.get(ContentItem, ids["never_flagged"]).text == "ordinary page"  # type: ignore[union-attr]

    report = run_retention(sessions, settings)
    assert report.total == 2
    assert report.warc_files_rewritten == 1 and report.warc_files_deleted == 1
    with sessions() as session:
        items = {name: session.get(ContentItem, item_id) for name, item_id in ids.items()}
        for name in ("never_flagged", "legal"):
            purged = items[name]
            assert purged is not None and purged.text == "" and purged.title is None
            assert purged.evidence_path is None
        for name in ("in_case", "recent", "weapons"):
            assert items[name].text != ""  # type: ignore[union-attr]
        kept = items["in_case"]
        assert kept is not None and kept.evidence_path != first[0]
        assert read_response(kept.evidence_path, kept.evidence_offset).body == second[3]  # type: ignore[arg-type]
        assert not Path(first[0]).exists()
        deletes = set(session.execute(select(SearchOutbox.item_id).where(SearchOutbox.op == OutboxOp.DELETE)).scalars())
        assert deletes == {ids["never_flagged"], ids["legal"]}
        entry = session.execute(select(AuditEntry).where(AuditEntry.action == "retention.purge")).scalar_one()
        assert entry.payload["items"] == 2

    assert run_retention(sessions, settings).total == 0  # nothing left to purge: a second run is a no-op


def test_near_duplicates_of_a_case_are_on_hold(sessions: sessionmaker[Session], retention_settings: Settings) -> None:
    settings = retention_settings
    with sessions.begin() as session:
        case_item = make_item(session, settings, fetched_at=OLD, cluster_id=77)
        add_score(session, case_item)
        task = make_decided_task(session, case_item, Verdict.ILLEGAL)
        cases.open_case(session, task, settings, actor_id=None)
        repost = make_item(session, settings, fetched_at=OLD, cluster_id=77)
        repost_id = repost.id
    report = run_retention(sessions, settings)
    assert report.total == 0 and report.held == 1
    with sessions() as session:
        assert session.get(ContentItem, repost_id).text != ""  # type: ignore[union-attr]


def test_open_tasks_are_never_purged(sessions: sessionmaker[Session], retention_settings: Settings) -> None:
    with sessions.begin() as session:
        item = make_item(session, retention_settings, fetched_at=OLD)
        task = make_decided_task(session, item, Verdict.ILLEGAL)
        task.status, task.decision = TaskStatus.OPEN, None
    assert run_retention(sessions, retention_settings).total == 0


def test_bad_retention_setting_is_refused(settings: Settings) -> None:
    with pytest.raises(ValueError, match="retention days"):
        Settings(_env_file=None, retention_days={"default": -1})  # type: ignore[call-arg]


def test_cli_dry_run_shows_and_changes_nothing(ctx, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    from typer.testing import CliRunner

    from saqshy import cli as saqshy_cli

    settings = ctx.settings.model_copy(update={"retention_days": {"default": 30}})
    monkeypatch.setattr(saqshy_cli, "settings", lambda: settings)
    saqshy_cli._mount_sub_apps()
    with ctx.sessions.begin() as session:
        item_id = make_item(session, settings, with_warc=False, fetched_at=OLD, text="old page").id
    result = CliRunner().invoke(saqshy_cli.app, ["retention", "run", "--dry-run"])
    assert result.exit_code == 0, result.output
    assert "would purge 1 items (default: 1)" in result.output
    with ctx.sessions() as session:
        assert session.get(ContentItem, item_id).text == "old page"  # type: ignore[union-attr]
