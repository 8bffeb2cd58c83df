"""The hash-chained audit log.

Every state change appends one entry carrying the SHA-256 of the previous entry, so editing or
removing an entry breaks the chain from that point on. The single ``audit_head`` row is locked
by each append (``SELECT ... FOR UPDATE`` on PostgreSQL; SQLite already serialises writers with
``BEGIN IMMEDIATE``), which keeps the chain linear under concurrency, and it records the last
hash and the count, so truncating the tail is detected too.

Entries are written when the caller's transaction commits (a ``before_commit`` hook), so the
head is locked only for the commit's last statements, whatever the request still does after
``append_audit``.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, cast

from sqlalchemy import Table, bindparam, event, insert, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from saqshy.db.models import AuditEntry, AuditHead, utcnow

GENESIS_HASH = "0" * 64
_HEAD_ID = 1
_PENDING = "saqshy_audit_pending"


def _as_utc(value: datetime) -> datetime:
    # SQLite hands timestamps back naive; every timestamp we store is UTC.
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _canonical_json(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)


def entry_hash(
    *,
    prev_hash: str,
    at: datetime,
    actor_id: int | None,
    action: str,
    entity_type: str,
    entity_id: str | None,
    payload: dict[str, Any],
) -> str:
    """The SHA-256 of an entry's canonical form (which includes the previous entry's hash)."""
    body = _canonical_json(
        {
            "prev": prev_hash,
            "at": _as_utc(at).isoformat(timespec="microseconds"),
            "actor": actor_id,
            "action": action,
            "entity_type": entity_type,
            "entity_id": entity_id,
            "payload": payload,
        }
    )
    return hashlib.sha256(body.encode("utf-8")).hexdigest()


def hash_of(entry: AuditEntry, *, prev_hash: str) -> str:
    """``entry_hash`` of a stored (or about to be stored) entry, chained to ``prev_hash``."""
    return entry_hash(
        prev_hash=prev_hash,
        at=entry.at,
        actor_id=entry.actor_id,
        action=entry.action,
        entity_type=entry.entity_type,
        entity_id=entry.entity_id,
        payload=entry.payload,
    )


_HEAD = cast(Table, AuditHead.__table__)
_LOG = cast(Table, AuditEntry.__table__)
_LOCK_HEAD = select(_HEAD.c.last_hash, _HEAD.c.entries).where(_HEAD.c.id == _HEAD_ID).with_for_update()
_ENTRY_COLUMNS = ("at", "actor_id", "action", "entity_type", "entity_id", "payload", "prev_hash", "hash")
_INSERT_ENTRY = insert(_LOG).returning(_LOG.c.id)
# PostgreSQL: the last entry and the head's update in one statement, one round trip fewer while
# the head is locked (SQLite has no data-modifying CTEs: there it is two statements).
_LAST_ENTRY = insert(_LOG).values({c: bindparam(c, type_=_LOG.c[c].type) for c in _ENTRY_COLUMNS}).returning(
    _LOG.c.id).cte("last_entry")
_INSERT_LAST_AND_MOVE_HEAD = (
    update(_HEAD)
    .where(_HEAD.c.id == _HEAD_ID)
    .values(last_id=select(_LAST_ENTRY.c.id).scalar_subquery(), last_hash=bindparam("hash"),
            entries=bindparam("entries"))
    .returning(_HEAD.c.last_id)
)


def _lock_head(session: Session) -> tuple[str, int]:
    """Lock the chain's head row; its (last hash, entry count)."""
    row = session.execute(_LOCK_HEAD).first()
    if row is None:
        # First entry ever: create the head unless a concurrent first append just did, then lock it.
        values = {"id": _HEAD_ID, "last_id": None, "last_hash": GENESIS_HASH, "entries": 0}
        dialect = session.get_bind().dialect.name
        if dialect == "postgresql":
            session.execute(pg_insert(AuditHead).values(**values).on_conflict_do_nothing())
        elif dialect == "sqlite":
            session.execute(sqlite_insert(AuditHead).values(**values).on_conflict_do_nothing())
        else:  # pragma: no cover - engines we do not ship
            session.execute(insert(_HEAD).values(**values))
        row = session.execute(_LOCK_HEAD).one()
    return str(row.last_hash), int(row.entries or 0)


def append_audit(
    session: Session,
    *,
    actor_id: int | None,
    action: str,
    entity_type: str,
    entity_id: str | int | None,
    payload: dict[str, Any],
) -> AuditEntry:
    """Append one entry to the chain, as part of the caller's transaction.

    The entry is written when the transaction commits (its ``id``, ``at`` and hashes are set then),
    so the chain's head stays locked only for the last moment of the transaction instead of for
    the rest of the request; a rolled-back transaction leaves no entry.
    """
    # Round-trip the payload through JSON now so the hash covers exactly what is stored.
    stored_payload: dict[str, Any] = json.loads(_canonical_json(payload))
    entry = AuditEntry(
        actor_id=actor_id,
        action=action,
        entity_type=entity_type,
        entity_id=None if entity_id is None else str(entity_id),
        payload=stored_payload,
    )
    session.info.setdefault(_PENDING, []).append(entry)
    return entry


def _write_pending(session: Session) -> None:
    pending: list[AuditEntry] | None = session.info.pop(_PENDING, None)
    if not pending:
        return
    # The transaction's own changes first, so the head's lock is its very last step.
    session.flush()
    # Core statements from here: the entries are not added to the session (no unit of work to
    # flush while the head is locked); each entry object gets its id and hashes as it is written.
    previous, count = _lock_head(session)
    one_statement_tail = session.get_bind().dialect.name == "postgresql"
    for n, entry in enumerate(pending, start=1):
        entry.at = utcnow()
        entry.prev_hash = previous
        entry.hash = hash_of(entry, prev_hash=previous)
        values = {c: getattr(entry, c) for c in _ENTRY_COLUMNS}
        # One at a time, so ids follow the chain's order (verification walks by id).
        if n == len(pending) and one_statement_tail:
            entry.id = session.execute(_INSERT_LAST_AND_MOVE_HEAD, {**values, "entries": count + n}).scalar_one()
            return
        entry.id = session.execute(_INSERT_ENTRY, values).scalar_one()
        previous = entry.hash
    session.execute(
        update(_HEAD).where(_HEAD.c.id == _HEAD_ID)
        .values(last_id=pending[-1].id, last_hash=previous, entries=count + len(pending))
    )


def _discard_pending(session: Session, *_args: Any) -> None:
    session.info.pop(_PENDING, None)


# Registered on the Session class: every session of the platform writes its pending entries.
event.listen(Session, "before_commit", _write_pending)
event.listen(Session, "after_rollback", _discard_pending)


@dataclass
class VerifyResult:
    ok: bool
    entries: int
    head_hash: str
    problems: list[str] = field(default_factory=list)
    first_bad_id: int | None = None


def _iter_entries(session: Session, batch: int = 1000) -> Iterator[AuditEntry]:
    last = 0
    while True:
        rows = session.execute(
            select(AuditEntry).where(AuditEntry.id > last).order_by(AuditEntry.id).limit(batch)
        ).scalars().all()
        if not rows:
            return
        yield from rows
        last = rows[-1].id
        session.expunge_all()


def verify_audit_chain(session: Session) -> VerifyResult:
    """Walk the chain in id order: every entry must hash to its stored hash and link to its predecessor."""
    result = VerifyResult(ok=True, entries=0, head_hash=GENESIS_HASH)
    previous = GENESIS_HASH

    def bad(entry_id: int | None, message: str) -> None:
        result.ok = False
        if result.first_bad_id is None and entry_id is not None:
            result.first_bad_id = entry_id
        if len(result.problems) < 100:
            result.problems.append(message)

    last_id: int | None = None
    for entry in _iter_entries(session):
        result.entries += 1
        if entry.prev_hash != previous:
            bad(entry.id, f"entry {entry.id}: previous-hash link broken (an entry before it was removed or edited)")
        expected = hash_of(entry, prev_hash=entry.prev_hash)
        if expected != entry.hash:
            bad(entry.id, f"entry {entry.id}: content does not match its hash (edited)")
        previous = entry.hash
        last_id = entry.id
    result.head_hash = previous
    head = session.get(AuditHead, _HEAD_ID)
    if head is None:
        if result.entries:
            bad(None, "the chain head is missing")
    else:
        if head.last_hash != previous or head.last_id != last_id:
            bad(last_id, f"the chain head ({head.last_id}, {head.last_hash[:12]}) does not match the last entry "
                f"({last_id}, {previous[:12]}): entries at the end were removed or added outside the log")
        if head.entries != result.entries:
            bad(None, f"the head counts {head.entries} entries but {result.entries} are present")
    return result
