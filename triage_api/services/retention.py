"""Content retention: items that never needed anyone's attention are purged after a while.

An item is purged when it is older (last fetched) than its category's retention
(``Settings.retention_days``: ``{"default": 180, "drugs": 365}``; 0 keeps a category for ever) and
it was either never flagged (no review task) or decided legal. Anything in a case is on legal
hold, and so is every near-duplicate of it (same cluster): never purged.

A purge keeps the item's row as an empty tombstone (its URL, hashes, scores, votes and decision stay, so
statistics and the audit trail hold), and removes what it said: text, title, author, extras, its
search document, its media rows and thumbnails, and its WARC records. A WARC file is rewritten
without the purged records (or deleted when nothing in it is kept); files written in the last
``ACTIVE_WARC_SECONDS`` may still be open in a crawler, so their items wait for the next run.
Every run that purges is one audit entry with the counts.
"""

from __future__ import annotations

import logging
import os
import time
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import ColumnElement, and_, delete, exists, func, or_, select, update
from sqlalchemy.orm import Session, aliased, sessionmaker
from warcio.archiveiterator import ArchiveIterator

from saqshy.db.models import Case, ContentItem, Media, OutboxOp, ReviewTask, Score, SearchOutbox, TaskStatus, Verdict
from saqshy.jobs import names
from saqshy.services.media import thumbnail_path
from saqshy.settings import Settings
from saqshy.timeutil import as_utc, utcnow
from triage_api.services.audit import append_audit

logger = logging.getLogger(__name__)

JOB_RETENTION = names.RETENTION_PURGE
RETENTION_EVERY_SECONDS = 24 * 3600.0
ACTIVE_WARC_SECONDS = 3600
BATCH = 500


@dataclass
class RetentionReport:
    dry_run: bool
    purged: Counter[str] = field(default_factory=Counter)  # per category
    held: int = 0  # eligible by age and decision, but in a case or a case's cluster
    deferred: int = 0  # their WARC file is still being written
    warc_files_rewritten: int = 0
    warc_files_deleted: int = 0
    thumbnails_deleted: int = 0

    @property
    def total(self) -> int:
        return sum(self.purged.values())

    def to_dict(self) -> dict[str, Any]:
        return {"dry_run": self.dry_run, "purged": dict(self.purged), "total": self.total, "held": self.held,
                "deferred": self.deferred, "warc_files_rewritten": self.warc_files_rewritten,
                "warc_files_deleted": self.warc_files_deleted, "thumbnails_deleted": self.thumbnails_deleted}


def _category_of() -> ColumnElement[Any]:
    """The task's category, else the latest score's top category, else "default"."""
    latest = aliased(Score)
    top = (select(latest.top_category).where(latest.item_id == ContentItem.id)
           .order_by(latest.created_at.desc(), latest.id.desc()).limit(1).scalar_subquery())
    return func.coalesce(ReviewTask.category, top, "default")


def _on_hold() -> ColumnElement[bool]:
    case_item = aliased(ContentItem)
    in_case = exists().where(Case.item_id == ContentItem.id)
    cluster_in_case = exists().where(
        Case.item_id == case_item.id, case_item.cluster_id.is_not(None), case_item.cluster_id == ContentItem.cluster_id
    )
    return or_(in_case, cluster_in_case)


def _candidates(session: Session, settings: Settings, now: datetime) -> list[tuple[int, str, bool, str | None]]:
    """(item id, category, on hold, WARC path) of items past retention that were never flagged or decided legal."""
    category = _category_of()
    never_flagged_or_legal = or_(
        ReviewTask.id.is_(None),
        and_(ReviewTask.status == TaskStatus.DECIDED, ReviewTask.decision == Verdict.LEGAL),
    )
    shortest = min((days for days in settings.retention_days.values() if days > 0), default=None)
    if shortest is None:
        return []
    rows = session.execute(
        select(ContentItem.id, category, _on_hold(), ContentItem.evidence_path, ContentItem.fetched_at)
        .outerjoin(ReviewTask, ReviewTask.item_id == ContentItem.id)
        .where(_has_content(), ContentItem.fetched_at < now - timedelta(days=shortest), never_flagged_or_legal)
        .order_by(ContentItem.id)
    ).all()
    due = []
    for item_id, item_category, held, path, fetched_at in rows:
        days = settings.retention_days.get(item_category, settings.retention_days.get("default", 0))
        if days > 0 and as_utc(fetched_at) < now - timedelta(days=days):
            due.append((item_id, item_category, bool(held), path))
    return due


def _has_content() -> ColumnElement[bool]:
    """Not purged yet, or filled again by a recrawl since."""
    return or_(ContentItem.text != "", ContentItem.title.is_not(None), ContentItem.evidence_path.is_not(None))


def _warc_is_active(path: str | None) -> bool:
    if not path:
        return False
    try:
        return time.time() - os.stat(path).st_mtime < ACTIVE_WARC_SECONDS
    except FileNotFoundError:
        return False


def run_retention(sessions: sessionmaker[Session], settings: Settings, *, dry_run: bool = False,
                  actor_id: int | None = None) -> RetentionReport:
    """Purge what is due (or, with ``dry_run``, only count it), a batch per transaction."""
    report = RetentionReport(dry_run=dry_run)
    due: list[tuple[int, str]] = []
    with sessions() as session:
        candidates = _candidates(session, settings, utcnow())
    for item_id, category, held, path in candidates:
        if held:
            report.held += 1
        elif _warc_is_active(path):
            report.deferred += 1
        else:
            due.append((item_id, category))
    if dry_run:
        report.purged.update(category for _, category in due)
        return report
    for start in range(0, len(due), BATCH):
        _purge_batch(sessions, settings, due[start:start + BATCH], report, actor_id)
    return report


def _purge_batch(sessions: sessionmaker[Session], settings: Settings, batch: list[tuple[int, str]],
                 report: RetentionReport, actor_id: int | None) -> None:
    """One transaction (with its audit entry); files that only the old rows needed go once it has committed."""
    ids = [item_id for item_id, _ in batch]
    counts = Counter(category for _, category in batch)
    with sessions.begin() as session:
        warc_paths, thumbnails = _files_of(session, ids)
        session.execute(delete(Media).where(Media.item_id.in_(ids)))
        session.execute(
            update(ContentItem).where(ContentItem.id.in_(ids)).values(
                text="", title=None, author=None, extra={}, simhash=None, evidence_path=None,
                evidence_offset=None, evidence_length=None,
            )
        )
        session.add_all(SearchOutbox(item_id=item_id, op=OutboxOp.DELETE) for item_id in ids)
        session.flush()
        replaced = [_rewrite_warc(session, Path(path), report) for path in sorted(warc_paths)]
        unused = thumbnails - set(
            session.execute(select(Media.thumbnail_key).where(Media.thumbnail_key.in_(thumbnails))).scalars()
        )
        append_audit(session, actor_id=actor_id, action="retention.purge", entity_type="content_item",
                     entity_id=None, payload={"purged": dict(counts), "items": len(ids),
                                              "warc_files": len(warc_paths), "thumbnails": len(unused)})
    for path in replaced:
        path.unlink(missing_ok=True)
    for key in unused:
        thumbnail_path(settings.media_dir, key).unlink(missing_ok=True)
    report.thumbnails_deleted += len(unused)
    report.purged.update(counts)


def _files_of(session: Session, ids: list[int]) -> tuple[set[str], set[str]]:
    """The WARC files and thumbnails that the items' rows name."""
    in_batch = (ContentItem.id.in_(ids), Media.item_id.in_(ids))
    paths = [*session.execute(select(ContentItem.evidence_path).where(in_batch[0])).scalars(),
             *session.execute(select(Media.evidence_path).where(in_batch[1])).scalars()]
    keys = session.execute(select(Media.thumbnail_key).where(in_batch[1])).scalars()
    return {path for path in paths if path}, {key for key in keys if key}


def _kept_offsets(session: Session, path: str) -> set[int]:
    items = session.execute(select(ContentItem.evidence_offset).where(ContentItem.evidence_path == path)).scalars()
    media = session.execute(select(Media.evidence_offset).where(Media.evidence_path == path)).scalars()
    return {offset for offset in [*items, *media] if offset is not None}


def _rewrite_warc(session: Session, path: Path, report: RetentionReport) -> Path:
    """Copy the file without the purged records and point the kept rows at the copy; returns the file
    to delete once the transaction has committed."""
    kept = _kept_offsets(session, str(path))
    if not kept or not path.exists():
        report.warc_files_deleted += 1
        return path
    target = path.with_name(path.name.replace(".warc.gz", f".r{int(time.time())}.warc.gz"))
    moved = _copy_records(path, target, kept)
    for table in (ContentItem, Media):
        for old, new in moved.items():
            session.execute(update(table).where(table.evidence_path == str(path), table.evidence_offset == old)
                            .values(evidence_path=str(target), evidence_offset=new))
    session.flush()
    report.warc_files_rewritten += 1
    return path


def _copy_records(source: Path, target: Path, kept: set[int]) -> dict[int, int]:
    """Copy warcinfo, the kept responses and every record concurrent to one; old offset -> new offset."""
    moved: dict[int, int] = {}
    with open(source, "rb") as stream:
        records = list(_record_spans(stream))
        kept_ids = {record_id for offset, _length, _kind, record_id, _concurrent in records if offset in kept}
        with open(target, "wb") as out:
            for offset, length, kind, _record_id, concurrent in records:
                if kind == "warcinfo" or offset in kept or concurrent in kept_ids:
                    stream.seek(offset)
                    if offset in kept:
                        moved[offset] = out.tell()
                    out.write(stream.read(length))
    return moved


def _record_spans(stream: Any) -> Iterable[tuple[int, int, str, str | None, str | None]]:
    iterator = ArchiveIterator(stream)
    for record in iterator:
        iterator.read_to_end(record)  # so that the record's length is known
        headers = record.rec_headers
        yield (iterator.get_record_offset(), iterator.get_record_length(), record.rec_type,
               headers.get_header("WARC-Record-ID"), headers.get_header("WARC-Concurrent-To"))
