"""Test data for escalation (cases, evidence, sources): items with a real WARC record, decided tasks."""

from __future__ import annotations

import hashlib
import io
import itertools
from datetime import UTC, datetime
from pathlib import Path

from pydantic import SecretStr
from sqlalchemy.orm import Session
from warcio.statusandheaders import StatusAndHeaders
from warcio.warcwriter import WARCWriter

from saqshy.db.models import (
    ContentItem,
    ReviewTask,
    Role,
    Score,
    Source,
    SourceKind,
    TaskStatus,
    User,
    Verdict,
    Vote,
    utcnow,
)
from saqshy.services.items import ingest_item
from saqshy.settings import Settings
from tests.factories import item_data
from triage_api.services import cases

_counter = itertools.count(1)


def write_warc_response(folder: Path, url: str, body: bytes) -> tuple[str, int, int]:
    """Append a warcinfo and a response record to a new WARC file; (path, offset, length) of the response."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"test-{next(_counter)}.warc.gz"
    with open(path, "wb") as out:
        writer = WARCWriter(out, gzip=True)
        writer.write_record(writer.create_warcinfo_record(path.name, {"software": "tests"}))
        http = StatusAndHeaders("200 OK", [("Content-Type", "text/html; charset=utf-8")], protocol="HTTP/1.1")
        record = writer.create_warc_record(
            url,
            "response",
            payload=io.BytesIO(body),
            http_headers=http,
            warc_headers_dict={"WARC-IP-Address": "203.0.113.7"},
        )
        offset = out.tell()
        writer.write_record(record)
        length = out.tell() - offset
    return str(path), offset, length


POLICE_SECRET = "police-shared-secret"


def police_webhook_settings(settings: Settings, url: str, *, attempts: int, **more: object) -> Settings:
    """``settings`` sending cases to a police receiver on this machine (it stands for an intranet endpoint)."""
    return settings.model_copy(
        update={
            "police_webhook_url": url,
            "police_webhook_secret": SecretStr(POLICE_SECRET),
            "police_webhook_max_attempts": attempts,
            "police_webhook_timeout_seconds": 5.0,
            "crawler_allowed_networks": "127.0.0.0/8",
            **more,
        }
    )


def make_user(session: Session, role: Role = Role.VOLUNTEER) -> User:
    n = next(_counter)
    user = User(
        email=f"esc-{role.value}-{n}@example.test",
        display_name=f"Real Name {n}",
        pseudonym=f"volunteer-{n:04d}",
        password_hash="not-a-hash",
        role=role,
    )
    session.add(user)
    session.flush()
    return user


def make_source(session: Session, **overrides: object) -> Source:
    n = next(_counter)
    values: dict[str, object] = {
        "name": f"source-{n}.example",
        "url": f"https://source-{n}.example/",
        "kind": SourceKind.SITE,
    }
    values.update(overrides)
    source = Source(**values)
    session.add(source)
    session.flush()
    return source


def make_item(
    session: Session,
    settings: Settings,
    *,
    with_warc: bool = True,
    source: Source | None = None,
    body: bytes | None = None,
    **overrides: object,
) -> ContentItem:
    data = item_data(**overrides)
    if source is not None:
        data["source_id"] = source.id
    if with_warc:
        raw = body if body is not None else f"<html><body>{data['text']}</body></html>".encode()
        path, offset, length = write_warc_response(settings.evidence_dir / "2026", data["url"], raw)
        data.update(
            evidence_path=path,
            evidence_offset=offset,
            evidence_length=length,
            sha256=hashlib.sha256(raw).hexdigest(),
            server_ip="203.0.113.7",
            fetched_at=datetime(2026, 11, 1, 12, 0, tzinfo=UTC),
        )
    result = ingest_item(session, data, settings)
    item = session.get(ContentItem, result.item_id)
    assert item is not None
    return item


def add_score(session: Session, item: ContentItem, score: float = 0.93, category: str = "drugs") -> Score:
    row = Score(
        item_id=item.id,
        model_version="xlmr-test-2026.11",
        probabilities={category: score, "other": 1 - score},
        score=score,
        top_category=category,
    )
    session.add(row)
    session.flush()
    return row


def make_decided_task(
    session: Session,
    item: ContentItem,
    decision: Verdict = Verdict.ILLEGAL,
    *,
    voters: list[User] | None = None,
    votes: list[Verdict] | None = None,
    category: str = "drugs",
    is_gold: bool = False,
) -> ReviewTask:
    task = ReviewTask(
        item_id=item.id,
        category=category,
        score=0.9,
        priority=0.9,
        status=TaskStatus.DECIDED,
        decision=decision,
        decided_category=category if decision == Verdict.ILLEGAL else None,
        decided_at=utcnow(),
        is_gold=is_gold,
    )
    session.add(task)
    session.flush()
    for user, verdict in zip(voters or [], votes or [decision] * len(voters or []), strict=True):
        session.add(Vote(task_id=task.id, user_id=user.id, verdict=verdict, category=category, note="seen in channel"))
    session.flush()
    return task


def decide_source_items(session: Session, settings: Settings, source: Source, verdicts: list[Verdict]) -> None:
    """One decided item of the source per verdict; an illegal one opens its case with evidence."""
    for verdict in verdicts:
        task = make_decided_task(session, make_item(session, settings, source=source), verdict)
        if verdict == Verdict.ILLEGAL:
            case = cases.open_case(session, task, settings, None)
            cases.ensure_evidence(session, case.id, settings)  # what the job does after commit
