"""The hash-chained audit log.

Every state change appends one entry; every entry carries the SHA-256 of the previous one, so
editing or removing an entry breaks the chain from that point on. A single ``audit_head`` row
records the last hash and the count, so truncating the tail is detected too.

Writing and chaining are two steps:

1. ``append_audit`` queues an entry on the caller's session; when that transaction commits, the
   entry is inserted with it (a ``before_commit`` hook), *unchained*: no ``seq`` and no hashes.
   A rolled-back transaction leaves no entry.
2. ``chain_pending`` takes the chain's head (``SELECT ... FOR UPDATE``; SQLite serialises writers
   with ``BEGIN IMMEDIATE``) and chains every unchained entry in id order: ``seq``, ``prev_hash``,
   ``hash``, then moves the head.

Two steps because chaining locks the one head row through a COMMIT: with an ``AuditSequencer``
running (the API server starts one), requests only insert their entries and the sequencer chains
them a batch at a time, so no request waits on that lock. Without one (the CLI, jobs, tests), the
committing transaction chains inline, under the head lock.

Until it is chained (normally a few milliseconds; at most ``poll_seconds`` if a wake-up is
missed), an entry is not yet protected by the chain. ``verify_audit_chain`` reports such entries
as pending; ``saqshy audit verify`` and ``GET /audit/verify`` chain what is pending first.
"""

from __future__ import annotations

import hashlib
import json
import logging
import threading
import time
import weakref
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, NamedTuple, cast

from sqlalchemy import Connection, Engine, Table, bindparam, event, func, insert, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session
from sqlalchemy.sql.expression import ColumnElement, ScalarSelect

from saqshy.db.models import AuditEntry, AuditHead
from saqshy.db.session import READ_ONLY
from saqshy.errors import ErrorCode, InvalidInput
from saqshy.timeutil import as_utc, utcnow

log = logging.getLogger(__name__)

GENESIS_HASH = "0" * 64
_HEAD_ID = 1
_PENDING = "saqshy_audit_pending"
_WROTE = "saqshy_audit_wrote"
CHAIN_BATCH = 500


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
            "at": as_utc(at).isoformat(timespec="microseconds"),
            "actor": actor_id,
            "action": action,
            "entity_type": entity_type,
            "entity_id": entity_id,
            "payload": payload,
        }
    )
    return hashlib.sha256(body.encode("utf-8")).hexdigest()


def hash_of(entry: AuditEntry, *, prev_hash: str) -> str:
    """``entry_hash`` of a stored entry, chained to ``prev_hash``."""
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
_ENTRY_COLUMNS = ("at", "actor_id", "action", "entity_type", "entity_id", "payload")
_INSERT_ENTRIES = insert(_LOG).returning(_LOG.c.id, sort_by_parameter_order=True)
# Most transactions (a claim, most votes) append one entry: a plain single-row INSERT, without
# the many-rows batching that keeps ids in order.
_INSERT_ENTRY = insert(_LOG).returning(_LOG.c.id)
_UNCHAINED = (
    select(_LOG.c.id, _LOG.c.at, _LOG.c.actor_id, _LOG.c.action, _LOG.c.entity_type, _LOG.c.entity_id,
           _LOG.c.payload)
    .where(_LOG.c.seq.is_(None))
    .order_by(_LOG.c.id)
    .limit(bindparam("batch"))
)
_CHAIN_ENTRY = (
    update(_LOG)
    .where(_LOG.c.id == bindparam("entry_id"))
    .values(seq=bindparam("new_seq"), prev_hash=bindparam("new_prev"), hash=bindparam("new_hash"))
)
_MOVE_HEAD = (
    update(_HEAD)
    .where(_HEAD.c.id == _HEAD_ID)
    .values(last_id=bindparam("last_id"), last_hash=bindparam("last_hash"), entries=bindparam("entries"))
)


def _lock_head(connection: Connection) -> tuple[str, int]:
    """Lock the chain's head row; its (last hash, entry count)."""
    row = connection.execute(_LOCK_HEAD).first()
    if row is None:
        # First entry ever: create the head unless a concurrent first append just did, then lock it.
        values = {"id": _HEAD_ID, "last_id": None, "last_hash": GENESIS_HASH, "entries": 0}
        dialect = connection.dialect.name
        if dialect == "postgresql":
            connection.execute(pg_insert(_HEAD).values(**values).on_conflict_do_nothing())
        elif dialect == "sqlite":
            connection.execute(sqlite_insert(_HEAD).values(**values).on_conflict_do_nothing())
        else:  # pragma: no cover - engines we do not ship
            connection.execute(insert(_HEAD).values(**values))
        row = connection.execute(_LOCK_HEAD).one()
    return str(row.last_hash), int(row.entries or 0)


def _chain_batch(connection: Connection, batch: int) -> int:
    """Chain up to ``batch`` unchained entries inside the connection's transaction; how many."""
    previous, count = _lock_head(connection)
    # Read after the head is locked: a concurrent sequencer that chained these has committed.
    rows = connection.execute(_UNCHAINED, {"batch": batch}).all()
    if not rows:
        return 0
    updates = []
    for row in rows:
        count += 1
        digest = entry_hash(prev_hash=previous, at=row.at, actor_id=row.actor_id, action=row.action,
                            entity_type=row.entity_type, entity_id=row.entity_id, payload=row.payload)
        updates.append({"entry_id": row.id, "new_seq": count, "new_prev": previous, "new_hash": digest})
        previous = digest
    connection.execute(_CHAIN_ENTRY, updates)
    connection.execute(_MOVE_HEAD, {"last_id": rows[-1].id, "last_hash": previous, "entries": count})
    return len(rows)


def chain_pending(bind: Engine | Session, *, batch: int = CHAIN_BATCH) -> int:
    """Chain every entry committed so far but not chained yet; how many were chained.

    With an engine, each batch is its own transaction; with a session, the work joins the
    session's transaction (the caller commits).
    """
    total = 0
    while True:
        if isinstance(bind, Session):
            done = _chain_batch(bind.connection(), batch)
        else:
            with bind.begin() as connection:
                done = _chain_batch(connection, batch)
        total += done
        if done < batch:
            return total


def append_audit(
    session: Session,
    *,
    actor_id: int | None,
    action: str,
    entity_type: str,
    entity_id: str | int | None,
    payload: dict[str, Any],
) -> AuditEntry:
    """Append one entry, as part of the caller's transaction.

    The entry is inserted when the transaction commits (its ``id`` is set then) and chained just
    after (or inline, where no sequencer runs); a rolled-back transaction leaves no entry.
    """
    # Round-trip the payload through JSON now so the hash covers exactly what is stored.
    stored_payload: dict[str, Any] = json.loads(_canonical_json(payload))
    entry = AuditEntry(
        at=utcnow(),
        actor_id=actor_id,
        action=action,
        entity_type=entity_type,
        entity_id=None if entity_id is None else str(entity_id),
        payload=stored_payload,
    )
    session.info.setdefault(_PENDING, []).append(entry)
    return entry


# Engines whose entries a running AuditSequencer chains (the others chain inline at commit).
_SEQUENCERS: weakref.WeakKeyDictionary[Engine, AuditSequencer] = weakref.WeakKeyDictionary()


def sequencer_for(engine: Engine) -> AuditSequencer | None:
    """The running sequencer chaining this engine's entries in this process, if any."""
    sequencer = _SEQUENCERS.get(engine)
    return sequencer if sequencer is not None and sequencer.running else None


def _engine_of(session: Session) -> Engine:
    bind = session.get_bind()
    return bind.engine if isinstance(bind, Connection) else bind


def _write_pending(session: Session) -> None:
    pending: list[AuditEntry] | None = session.info.pop(_PENDING, None)
    if not pending:
        return
    # The transaction's own changes first (an entry's payload may name rows flushed here).
    session.flush()
    # Core statements: the entries are not added to the session (no unit of work for them); each
    # entry object gets its id. One statement for all: ids follow the order of appending.
    connection = session.connection()
    rows = [{c: getattr(e, c) for c in _ENTRY_COLUMNS} for e in pending]
    if len(rows) == 1:
        ids = [connection.execute(_INSERT_ENTRY, rows[0]).scalar_one()]
    else:
        ids = list(connection.execute(_INSERT_ENTRIES, rows).scalars())
    for entry, entry_id in zip(pending, ids, strict=True):
        entry.id = entry_id
    sequencer = _SEQUENCERS.get(_engine_of(session))
    if sequencer is not None and sequencer.running:
        session.info[_WROTE] = sequencer
    else:
        # No sequencer: chain now, in this transaction (the head stays locked until its commit).
        chain_pending(session)


def _wake_sequencer(session: Session) -> None:
    sequencer: AuditSequencer | None = session.info.pop(_WROTE, None)
    if sequencer is not None:
        sequencer.wake()


def _discard_pending(session: Session, *_args: Any) -> None:
    session.info.pop(_PENDING, None)
    session.info.pop(_WROTE, None)


# Registered on the Session class: every session of the platform writes its pending entries.
event.listen(Session, "before_commit", _write_pending)
event.listen(Session, "after_commit", _wake_sequencer)
event.listen(Session, "after_rollback", _discard_pending)


class AuditSequencer:
    """A thread that chains the entries committed by this process's sessions, a batch at a time.

    ``start()`` registers it for its engine: from then on, committing transactions only insert
    their entries and wake it. It also chains on a timer (``poll_seconds``), which picks up
    entries of other processes whose sequencer stopped before chaining them. A failure (say the
    database restarting) is logged and retried; nothing is lost, since the entries are stored.
    """

    def __init__(
        self, engine: Engine, *, poll_seconds: float = 2.0, linger_seconds: float = 0.2, batch: int = CHAIN_BATCH,
    ) -> None:
        self.engine = engine
        self.poll_seconds = poll_seconds
        # After a wake-up, wait this long for more entries: one chaining transaction (five
        # statements and a flush) then serves every request of the interval, not each one.
        self.linger_seconds = linger_seconds
        self.batch = batch
        self.chained = 0
        self.failures = 0
        self.consecutive_failures = 0  # /health reports the sequencer failing while this is > 0
        self.last_error: str | None = None
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive() and not self._stop.is_set()

    def start(self) -> AuditSequencer:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="audit-sequencer", daemon=True)
            _SEQUENCERS[self.engine] = self
            self._thread.start()
        return self

    def wake(self) -> None:
        self._wake.set()

    def stop(self, timeout: float = 10.0) -> None:
        """Stop, after chaining what this process committed (new commits chain inline again)."""
        if _SEQUENCERS.get(self.engine) is self:
            del _SEQUENCERS[self.engine]
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)
        self.chain_once()

    def chain_once(self) -> int:
        try:
            done = chain_pending(self.engine, batch=self.batch)
        except Exception as exc:  # any database error: retried on the next round
            self.failures += 1
            self.consecutive_failures += 1
            self.last_error = f"{type(exc).__name__}: {exc}"
            log.warning("audit sequencer: chaining failed (%s); retrying", self.last_error)
            return 0
        self.chained += done
        self.consecutive_failures = 0
        return done

    def _run(self) -> None:
        backoff = 0.05
        while not self._stop.is_set():
            if self._wake.wait(self.poll_seconds) and self.linger_seconds:
                self._stop.wait(self.linger_seconds)
            self._wake.clear()
            if self._stop.is_set():
                return
            failures = self.failures
            self.chain_once()
            if self.failures > failures:
                time.sleep(backoff)
                backoff = min(backoff * 2, self.poll_seconds)
            else:
                backoff = 0.05


@dataclass
class VerifyResult:
    ok: bool
    entries: int
    head_hash: str
    problems: list[str] = field(default_factory=list)
    first_bad_id: int | None = None
    pending: int = 0  # committed entries not chained yet (not covered by this verification)
    first_bad_position: int | None = None  # the chain position of the first problem found
    checkpoints: int = 0  # signed checkpoints checked (audit_checkpoints)

    def fail(self, message: str, *, entry_id: int | None = None, position: int | None = None) -> None:
        self.ok = False
        if self.first_bad_id is None and entry_id is not None:
            self.first_bad_id = entry_id
        if position is not None and (self.first_bad_position is None or position < self.first_bad_position):
            self.first_bad_position = position
        if len(self.problems) < 100:
            self.problems.append(message)


def _iter_chained(session: Session, up_to: int, batch: int = 1000) -> Iterator[AuditEntry]:
    last = 0
    while True:
        rows = session.execute(
            select(AuditEntry).where(AuditEntry.seq > last, AuditEntry.seq <= up_to)
            .order_by(AuditEntry.seq).limit(batch)
        ).scalars().all()
        if not rows:
            return
        yield from rows
        last = cast(int, rows[-1].seq)
        session.expunge_all()


class _HeadView(NamedTuple):
    entries: int | None  # None: no head row
    last_id: int | None
    last_hash: str | None
    last_seq: int | None  # the highest chain position stored, head or not
    pending: int


def _of_head(column: ColumnElement[Any]) -> ScalarSelect[Any]:
    return select(column).where(_HEAD.c.id == _HEAD_ID).scalar_subquery()


# One statement, so the head, the highest stored position and the pending count come from one
# snapshot even under READ COMMITTED, while a sequencer keeps chaining.
_READ_HEAD = select(
    _of_head(_HEAD.c.entries), _of_head(_HEAD.c.last_id), _of_head(_HEAD.c.last_hash),
    select(func.max(_LOG.c.seq)).scalar_subquery(),
    select(func.count()).select_from(_LOG).where(_LOG.c.seq.is_(None)).scalar_subquery(),
)


def verify_audit_chain(session: Session) -> VerifyResult:
    """Walk the chain in ``seq`` order: every entry must hash to its stored hash and link to its predecessor.

    The walk covers the chain up to the head read when it starts: entries a sequencer chains
    meanwhile are left to the next verification, like pending ones (``chain_pending`` first, and
    commit, to cover every entry committed until now).
    """
    if not session.in_transaction():
        session.connection(execution_options=READ_ONLY)  # on SQLite, writers go on while the walk reads
    head = _HeadView._make(session.execute(_READ_HEAD).one())
    result, last_id = _walk(session, up_to=head.entries or 0)
    result.pending = head.pending
    _check_head(result, head, last_id)
    return result


def _walk(session: Session, *, up_to: int) -> tuple[VerifyResult, int | None]:
    """The chain's first ``up_to`` entries checked link by link; the result and the last entry's id."""
    result = VerifyResult(ok=True, entries=0, head_hash=GENESIS_HASH)
    previous = GENESIS_HASH
    last_id: int | None = None
    for entry in _iter_chained(session, up_to):
        result.entries += 1
        position = result.entries
        if entry.prev_hash != previous:
            result.fail(f"entry {entry.id}: previous-hash link broken (an entry before it was removed or edited)",
                        entry_id=entry.id, position=position)
        if hash_of(entry, prev_hash=entry.prev_hash or "") != entry.hash:
            result.fail(f"entry {entry.id}: content does not match its hash (edited)",
                        entry_id=entry.id, position=position)
        if entry.seq != position:
            result.fail(f"entry {entry.id}: chain position {entry.seq}, expected {position} "
                        "(an entry before it was removed)", entry_id=entry.id, position=position)
        previous = entry.hash or ""
        last_id = entry.id
    result.head_hash = previous
    return result, last_id


def _check_head(result: VerifyResult, head: _HeadView, last_id: int | None) -> None:
    """The walk must end where the head says, and nothing may be chained beyond the head."""
    if head.entries is None:
        if head.last_seq is not None:
            result.fail("the chain head is missing")
        return
    if head.last_hash != result.head_hash or head.last_id != last_id:
        result.fail(f"the chain head ({head.last_id}, {(head.last_hash or '')[:12]}) does not match the last entry "
                    f"({last_id}, {result.head_hash[:12]}): entries at the end were removed or added outside "
                    "the log", entry_id=last_id, position=result.entries)
    if head.entries != result.entries:
        result.fail(f"the head counts {head.entries} entries but {result.entries} are present")
    if head.last_seq is not None and head.last_seq > head.entries:
        result.fail(f"an entry is chained at position {head.last_seq}, beyond the head's {head.entries}: "
                    "it was added outside the log")


@dataclass(frozen=True)
class AuditFilter:
    """Which entries to list; every field optional, combined with AND (``at``: from inclusive, to exclusive)."""

    actor_id: int | None = None
    action: str | None = None
    entity_type: str | None = None
    entity_id: str | None = None
    at_from: datetime | None = None
    at_to: datetime | None = None


def list_entries(
    session: Session, where: AuditFilter, *, offset: int, limit: int
) -> tuple[list[AuditEntry], int]:
    """One page of entries matching ``where``, newest first, and how many match in all."""
    if where.at_from is not None and where.at_to is not None and where.at_from >= where.at_to:
        raise InvalidInput("'from' must be before 'to'", code=ErrorCode.AUDIT_RANGE)
    conditions = []
    if where.actor_id is not None:
        conditions.append(AuditEntry.actor_id == where.actor_id)
    if where.action is not None:
        conditions.append(AuditEntry.action == where.action)
    if where.entity_type is not None:
        conditions.append(AuditEntry.entity_type == where.entity_type)
    if where.entity_id is not None:
        conditions.append(AuditEntry.entity_id == where.entity_id)
    if where.at_from is not None:
        conditions.append(AuditEntry.at >= where.at_from)
    if where.at_to is not None:
        conditions.append(AuditEntry.at < where.at_to)
    rows = session.execute(
        select(AuditEntry).where(*conditions).order_by(AuditEntry.id.desc()).offset(offset).limit(limit)
    ).scalars().all()
    total = session.execute(select(func.count()).select_from(AuditEntry).where(*conditions)).scalar_one()
    return list(rows), int(total)


def audit_actions(session: Session) -> list[str]:
    """Every action name the log holds, for the viewer's filter."""
    return list(session.execute(select(AuditEntry.action).distinct().order_by(AuditEntry.action)).scalars())
