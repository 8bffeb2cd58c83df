"""Signed checkpoints of the audit chain, kept outside the database.

The chain alone is plain SHA-256: whoever can write the database can rewrite entries and
recompute every hash after them. So, like CloudTrail's digest files and Certificate
Transparency's signed tree heads, the chain's head (position and hash) is signed now and then
with an Ed25519 key the database does not hold, and appended to a JSON Lines file beside it::

    {"format": "saqshy-audit-checkpoint/1", "position": 1234, "hash": "<sha256 hex>",
     "at": "2026-01-01T00:00:00+00:00", "key": "sha256:<key fingerprint>", "signature": "<base64>"}

The signature covers the canonical JSON of format, position, hash and at. Verification checks
every checkpoint's signature, and that the entry at its position still has its hash (that hash
covers every entry before it): a rewritten chain fails at the first checkpoint after the change.

Checkpoints are written by the periodic job ``audit.checkpoint`` and after every successful
``saqshy audit verify`` (or ``GET /audit/verify``); a checkpoint is written only if the chain
still extends the last one, so a rewritten chain is never signed.
"""

from __future__ import annotations

import base64
import fcntl
import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import IO

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from sqlalchemy import select
from sqlalchemy.orm import Session

from saqshy.db.models import AuditEntry, AuditHead
from saqshy.errors import Conflict
from saqshy.jobs import names
from saqshy.settings import Settings
from triage_api.services.audit import GENESIS_HASH, VerifyResult, chain_pending, hash_of, verify_audit_chain
from triage_api.services.signing_keys import key_fingerprint, load_ed25519_key

FORMAT = "saqshy-audit-checkpoint/1"
JOB_CHECKPOINT = names.AUDIT_CHECKPOINT
# How often the periodic job signs the head: the longest stretch of entries a database writer
# could rewrite before a checkpoint covers them.
CHECKPOINT_EVERY_SECONDS = 300
_LOOKUP_BATCH = 500


@dataclass(frozen=True)
class Checkpoint:
    position: int
    hash: str
    at: str
    key: str
    signature: str
    line: int = 0


def key_path(settings: Settings) -> Path:
    return settings.audit_checkpoint_key_path or settings.var_dir / "keys" / "audit-checkpoint-ed25519.pem"


def checkpoint_path(settings: Settings) -> Path:
    return settings.audit_checkpoint_file or settings.var_dir / "audit" / "checkpoints.jsonl"


def load_key(settings: Settings) -> Ed25519PrivateKey:
    configured = "SAQSHY_AUDIT_CHECKPOINT_KEY_PATH" if settings.audit_checkpoint_key_path is not None else None
    return load_ed25519_key(key_path(settings), configured_by=configured, what="audit checkpoint key")


def _signed_body(position: int, digest: str, at: str) -> bytes:
    body = {"format": FORMAT, "position": position, "hash": digest, "at": at}
    return json.dumps(body, sort_keys=True, separators=(",", ":")).encode("utf-8")


def _sign(key: Ed25519PrivateKey, position: int, digest: str) -> Checkpoint:
    at = datetime.now(UTC).isoformat(timespec="seconds")
    signature = base64.b64encode(key.sign(_signed_body(position, digest, at))).decode("ascii")
    return Checkpoint(position=position, hash=digest, at=at, key=key_fingerprint(key.public_key()),
                      signature=signature)


def _signature_ok(public_key: Ed25519PublicKey, checkpoint: Checkpoint) -> bool:
    try:
        public_key.verify(base64.b64decode(checkpoint.signature, validate=True),
                          _signed_body(checkpoint.position, checkpoint.hash, checkpoint.at))
    except (InvalidSignature, ValueError):
        return False
    return True


@contextmanager
def _locked(path: Path, *, exclusive: bool) -> Iterator[IO[str]]:
    """The checkpoint file, open for appending and reading under a lock shared by every process."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd = os.open(path, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o600)
    with os.fdopen(fd, "a+", encoding="utf-8") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH)
        try:
            handle.seek(0)
            yield handle
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _parse(handle: IO[str]) -> tuple[list[Checkpoint], list[str]]:
    checkpoints: list[Checkpoint] = []
    problems: list[str] = []
    for number, line in enumerate(handle, start=1):
        if not line.strip():
            continue
        try:
            raw = json.loads(line)
            if raw.get("format") != FORMAT:
                raise ValueError(f"format {raw.get('format')!r}")
            checkpoints.append(Checkpoint(position=int(raw["position"]), hash=str(raw["hash"]), at=str(raw["at"]),
                                          key=str(raw["key"]), signature=str(raw["signature"]), line=number))
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            problems.append(f"checkpoint file line {number} is unreadable ({exc}): the file was edited")
    return checkpoints, problems


def read_checkpoints(settings: Settings) -> tuple[list[Checkpoint], list[str]]:
    """Every checkpoint in the file, and the lines that could not be read as one."""
    path = checkpoint_path(settings)
    if not path.exists():
        return [], []
    with _locked(path, exclusive=False) as handle:
        return _parse(handle)


def _head(session: Session) -> tuple[int, str]:
    head = session.get(AuditHead, 1)
    return (0, GENESIS_HASH) if head is None else (int(head.entries or 0), head.last_hash)


def _extends(session: Session, last: Checkpoint, position: int) -> bool:
    """Whether the stored chain still runs from ``last`` to ``position``, link by link."""
    previous = last.hash
    anchor = session.execute(select(AuditEntry.hash).where(AuditEntry.seq == last.position)).scalar_one_or_none()
    if anchor != last.hash:
        return False
    entries = session.execute(
        select(AuditEntry).where(AuditEntry.seq > last.position, AuditEntry.seq <= position).order_by(AuditEntry.seq)
    ).scalars()
    count = 0
    for entry in entries:
        count += 1
        if entry.prev_hash != previous or hash_of(entry, prev_hash=previous) != entry.hash:
            return False
        previous = entry.hash or ""
    return count == position - last.position


def write_checkpoint(session: Session, settings: Settings) -> Checkpoint | None:
    """Sign the chain's head and append it; None when the last checkpoint already covers it.

    Raises Conflict, signing nothing, when the chain no longer extends the last checkpoint.
    """
    position, digest = _head(session)
    if position == 0:
        return None
    key = load_key(settings)
    with _locked(checkpoint_path(settings), exclusive=True) as handle:
        checkpoints, _ = _parse(handle)
        last = checkpoints[-1] if checkpoints else None
        if last is not None and last.position >= position:
            return None
        if last is not None and not _extends(session, last, position):
            raise Conflict(f"the audit chain no longer extends its checkpoint at position {last.position}: "
                           "not signing it (run `saqshy audit verify`)")
        checkpoint = _sign(key, position, digest)
        record = {"format": FORMAT, "position": checkpoint.position, "hash": checkpoint.hash, "at": checkpoint.at,
                  "key": checkpoint.key, "signature": checkpoint.signature}
        handle.write(json.dumps(record, sort_keys=True) + "\n")
        handle.flush()
        os.fsync(handle.fileno())
    return checkpoint


def _hashes_at(session: Session, positions: list[int]) -> dict[int, str | None]:
    found: dict[int, str | None] = {}
    for start in range(0, len(positions), _LOOKUP_BATCH):
        chunk = positions[start:start + _LOOKUP_BATCH]
        rows = session.execute(select(AuditEntry.seq, AuditEntry.hash).where(AuditEntry.seq.in_(chunk)))
        found.update({int(seq): digest for seq, digest in rows if seq is not None})
    return found


def check_checkpoints(
    session: Session, settings: Settings, result: VerifyResult, read: tuple[list[Checkpoint], list[str]],
) -> None:
    """Add to ``result`` every checkpoint of ``read`` (``read_checkpoints``'s answer) the stored chain
    no longer matches (or that is forged)."""
    checkpoints, unreadable = read
    for problem in unreadable:
        result.fail(problem)
    public_key = load_key(settings).public_key()
    fingerprint = key_fingerprint(public_key)
    stored = _hashes_at(session, sorted({c.position for c in checkpoints}))
    previous: Checkpoint | None = None
    for checkpoint in checkpoints:
        where = f"checkpoint (file line {checkpoint.line}) at position {checkpoint.position}"
        if checkpoint.key != fingerprint or not _signature_ok(public_key, checkpoint):
            result.fail(f"{where}: signature does not verify with this installation's checkpoint key "
                        f"({fingerprint}): the checkpoint file was edited")
            continue
        if previous is not None and checkpoint.position < previous.position:
            result.fail(f"{where}: earlier than the checkpoint before it: the checkpoint file was reordered")
        if checkpoint.position > result.entries:
            result.fail(f"{where}: the chain has only {result.entries} entries: entries were removed",
                        position=checkpoint.position)
        elif stored.get(checkpoint.position) != checkpoint.hash:
            result.fail(f"{where}: the chain's hash there differs from the signed one: entries at or before "
                        f"position {checkpoint.position} were rewritten", position=checkpoint.position)
        previous = checkpoint
    result.checkpoints = len(checkpoints)


def verify_audit_log(session: Session, settings: Settings) -> VerifyResult:
    """Chain pending entries, walk the chain, check it against every signed checkpoint; when all
    is intact, sign the head as a new checkpoint."""
    chain_pending(session)
    session.commit()
    # Read before the walk's head: every checkpoint found was then signed from a head the walk covers.
    checkpoints = read_checkpoints(settings)
    result = verify_audit_chain(session)
    check_checkpoints(session, settings, result, checkpoints)
    if result.ok:
        write_checkpoint(session, settings)
    return result
