"""Evidence bundles: what a case hands to the police, signed so anyone can check it.

A bundle is a ZIP::

    case.json          the case, the review task and its decision
    item.json          the item as fetched: URL, fetch time, server IP, SHA-256 of the body, ...
    text.txt           the extracted text
    scores.json        every classifier score of the item, with its model version
    decisions.json     the votes, volunteers named by pseudonym only
    record.warc.gz     the WARC response record, byte for byte as the crawler wrote it
    media.json         the item's images: URL, what the crawler found (status, type, size), WARC check
    media/NN.warc.gz   each image's WARC response record, byte for byte
    media/NN-original.EXT  each image's body as fetched, cut out of that record (``.bin`` for
                       anything not verified as a raster image: an SVG or HTML never opens as one)
    manifest.json      SHA-256 and size of every file above, and what the WARC check found
    manifest.sig       Ed25519 signature of manifest.json (base64)

The manifest is signed, not the ZIP: the ZIP container may be re-packed without breaking the
proof, while any change to a file changes its hash and so breaks the manifest or its signature.

Opening a case freezes the item as reviewed (``item_snapshot``: items are updated in place on
recrawl); the bundle is built from that snapshot by the job ``cases.build_evidence`` right after
commit (or on first download), so the vote that decides a task never waits for ZIP and disk work.
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import os
import tempfile
import zipfile
import zlib
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from sqlalchemy import select
from sqlalchemy.orm import Session

from crawlers.evidence import StoredRecord, read_record
from saqshy.db.models import Case, ClusterLabel, ContentItem, Media, MediaStatus, ReviewTask, Score, Source, User, Vote
from saqshy.errors import InvalidInput, NotFound, ServiceUnavailable
from saqshy.netpolicy import without_credentials
from saqshy.settings import Settings
from saqshy.timeutil import iso
from triage_api.services.signing_keys import key_fingerprint, load_ed25519_key

BUNDLE_FORMAT = "saqshy-evidence/1"
MANIFEST_NAME = "manifest.json"
SIGNATURE_NAME = "manifest.sig"
WARC_NAME = "record.warc.gz"
# A bundle to verify is hostile input too: refuse absurd archives before unpacking anything.
MAX_VERIFY_MEMBERS = 64
MAX_VERIFY_MEMBER_BYTES = 512 * 1024 * 1024


# --- signing key ------------------------------------------------------------------------------


def signing_key_path(settings: Settings) -> Path:
    return settings.evidence_signing_key_path or settings.var_dir / "keys" / "evidence-ed25519.pem"


def load_signing_key(settings: Settings) -> Ed25519PrivateKey:
    """The configured Ed25519 key; when none is configured, the one in var_dir (created on first use)."""
    configured = "SAQSHY_EVIDENCE_SIGNING_KEY_PATH" if settings.evidence_signing_key_path is not None else None
    return load_ed25519_key(signing_key_path(settings), configured_by=configured, what="evidence signing key")


def public_key_pem(settings: Settings) -> bytes:
    return (
        load_signing_key(settings)
        .public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )


def load_public_key(pem: bytes) -> Ed25519PublicKey:
    try:
        key = serialization.load_pem_public_key(pem)
    except (ValueError, TypeError) as exc:
        raise InvalidInput(f"not a PEM public key: {exc}") from None
    if not isinstance(key, Ed25519PublicKey):
        raise InvalidInput(f"the public key is a {type(key).__name__}, not an Ed25519 key")
    return key


# --- WARC record ------------------------------------------------------------------------------


@dataclass
class WarcCopy:
    """The item's WARC response record as stored, and what checking it found."""

    data: bytes | None
    info: dict[str, Any] = field(default_factory=dict)


def _resolve_evidence_path(raw: str, settings: Settings) -> Path:
    path = Path(raw)
    return path if path.is_absolute() else settings.evidence_dir / path


def item_snapshot(item: ContentItem) -> dict[str, Any]:
    """The item as reviewed, JSON-ready: what its case's bundle shows even after a recrawl."""
    return {
        "item_id": item.id,
        "url": item.url,
        "canonical_url": item.canonical_url,
        "fetched_at": iso(item.fetched_at),
        "published_at": iso(item.published_at),
        "sha256": item.sha256,
        "text_sha256": item.text_sha256,
        "server_ip": item.server_ip,
        "content_type": item.content_type,
        "size_bytes": item.size_bytes,
        "language": item.language,
        "title": item.title,
        "author": item.author,
        "post_id": item.post_id,
        "source_id": item.source_id,
        "evidence_path": item.evidence_path,
        "evidence_offset": item.evidence_offset,
        "evidence_length": item.evidence_length,
        "text": item.text,
    }


def read_warc_record(snapshot: dict[str, Any], settings: Settings) -> WarcCopy:
    """Cut the item's record out of its WARC file and check it; never raises for a bad record.

    A missing or damaged record must not stop an escalation: the bundle then says what is wrong.
    """
    raw_path, offset, length = (
        snapshot.get("evidence_path"),
        snapshot.get("evidence_offset"),
        snapshot.get("evidence_length"),
    )
    info: dict[str, Any] = {"path": raw_path, "offset": offset, "length": length}
    if not isinstance(raw_path, str) or not isinstance(offset, int) or not isinstance(length, int):
        return WarcCopy(None, {**info, "status": "missing", "error": "the item has no WARC record"})
    if length <= 0 or length > settings.evidence_max_record_bytes:
        return WarcCopy(
            None,
            {
                **info,
                "status": "missing",
                "error": f"record length {length} is out of range (limit {settings.evidence_max_record_bytes} bytes)",
            },
        )
    path = _resolve_evidence_path(raw_path, settings)
    try:
        with open(path, "rb") as stream:
            stream.seek(offset)
            data = stream.read(length)
    except OSError as exc:
        return WarcCopy(None, {**info, "status": "missing", "error": f"cannot read {path}: {exc.strerror or exc}"})
    if len(data) != length:
        return WarcCopy(None, {**info, "status": "missing", "error": f"{path} ends before the record does"})
    try:
        record = _first_record(data)
        body_sha256 = hashlib.sha256(record.body).hexdigest()
        rec_type = record.rec_type
        info.update(
            record_type=rec_type,
            target_uri=record.url,
            warc_date=record.warc_date,
            ip_address=record.server_ip,
            record_id=record.record_id,
            body_sha256=body_sha256,
        )
    except Exception as exc:  # warcio raises a variety of errors on damaged input
        return WarcCopy(data, {**info, "status": "damaged", "error": f"not a readable WARC record: {exc}"[:500]})
    if rec_type != "response":
        return WarcCopy(data, {**info, "status": "damaged", "error": f"the record is a {rec_type!r} record"})
    # The item's sha256 is the hash of the body as fetched: the record must hold that very body.
    info["status"] = "ok" if body_sha256 == snapshot.get("sha256") else "hash_mismatch"
    return WarcCopy(data, info)


# --- bundle -----------------------------------------------------------------------------------


def _json_bytes(value: Any) -> bytes:
    return json.dumps(value, ensure_ascii=False, indent=2, sort_keys=True).encode("utf-8")


def bundle_files(session: Session, case: Case, settings: Settings) -> tuple[dict[str, bytes], dict[str, Any]]:
    """The files of a case's bundle (name -> bytes), and the WARC check's findings."""
    task = session.get(ReviewTask, case.task_id)
    if task is None:
        raise NotFound(f"case {case.id} refers to a missing task")
    snapshot = _case_item_snapshot(session, case)
    warc = read_warc_record(snapshot, settings)
    files: dict[str, bytes] = {
        "case.json": _json_bytes(_case_record(case, task)),
        "item.json": _json_bytes(_item_fields(session, snapshot)),
        "text.txt": str(snapshot.get("text") or "").encode("utf-8", errors="replace"),
        "scores.json": _json_bytes(_score_records(session, case.item_id)),
        # Pseudonyms only: the police never learn who the volunteers are.
        "decisions.json": _json_bytes(_decision_records(session, task.id)),
    }
    if warc.data is not None:
        files[WARC_NAME] = warc.data
    members = _members(session, case)
    if members:
        files["members.json"] = _json_bytes(members)
    media_files, media_entries = _media_files(session, case.item_id, settings)
    if media_entries:
        files.update(media_files)
        files["media.json"] = _json_bytes(media_entries)
    return files, warc.info


def _case_item_snapshot(session: Session, case: Case) -> dict[str, Any]:
    """The item as frozen when the case was opened."""
    snapshot = dict(case.item_snapshot or {})
    if not snapshot:  # a case opened before snapshots existed: the item as it is now
        item = session.get(ContentItem, case.item_id)
        if item is None:
            raise NotFound(f"case {case.id} refers to a missing item")
        snapshot = item_snapshot(item)
    return snapshot


def _item_fields(session: Session, snapshot: dict[str, Any]) -> dict[str, Any]:
    """The item's frozen fields without its text and evidence paths, with its source described."""
    source_id = snapshot.get("source_id")
    source = session.get(Source, source_id) if isinstance(source_id, int) else None
    item_fields = {
        k: v for k, v in snapshot.items() if k not in ("text", "source_id") and not k.startswith("evidence_")
    }
    item_fields["source"] = (
        None if source is None else {
            "id": source.id,
            "name": source.name,
            "url": without_credentials(source.url),
            "kind": source.kind.value,
        }
    )
    return item_fields


def _case_record(case: Case, task: ReviewTask) -> dict[str, Any]:
    return {
        "case_id": case.id,
        "category": case.category,
        "opened_at": iso(case.created_at),
        "task": {
            "task_id": task.id,
            "decision": task.decision.value if task.decision else None,
            "decided_category": task.decided_category,
            "decided_at": iso(task.decided_at),
            "queued_at": iso(task.created_at),
        },
    }


def _score_records(session: Session, item_id: int) -> list[dict[str, Any]]:
    scores = session.scalars(select(Score).where(Score.item_id == item_id).order_by(Score.created_at, Score.id))
    return [
        {
            "model_version": s.model_version,
            "score": s.score,
            "top_category": s.top_category,
            "probabilities": s.probabilities,
            "scored_at": iso(s.created_at),
        }
        for s in scores
    ]


def _decision_records(session: Session, task_id: int) -> list[dict[str, Any]]:
    votes = session.execute(
        select(Vote, User.pseudonym)
        .join(User, User.id == Vote.user_id)
        .where(Vote.task_id == task_id)
        .order_by(Vote.id)
    ).all()
    return [
        {
            "volunteer": pseudonym,
            "verdict": vote.verdict.value,
            "category": vote.category,
            "note": vote.note,
            "moderator_decision": vote.is_moderator_decision,
            "voted_at": iso(vote.created_at),
        }
        for vote, pseudonym in votes
    ]


def _members(session: Session, case: Case) -> list[dict[str, Any]]:
    """Near-duplicates of the item attached to the case (its cluster's members, later reposts), as frozen."""
    labels = session.scalars(select(ClusterLabel).where(ClusterLabel.case_id == case.id).order_by(ClusterLabel.id))
    return [{"repost": label.is_repost, "attached_at": iso(label.created_at),
             **{k: v for k, v in label.item_snapshot.items() if k != "source_id" and not k.startswith("evidence_")}}
            for label in labels]


# Extensions for originals verified as raster images; anything else is ``.bin``.
_ORIGINAL_EXTENSIONS = {
    "image/png": ".png",
    "image/jpeg": ".jpg",
    "image/gif": ".gif",
    "image/webp": ".webp",
    "image/bmp": ".bmp",
}


def _media_files(session: Session, item_id: int, settings: Settings) -> tuple[dict[str, bytes], list[dict[str, Any]]]:
    """The item's images: each one's WARC record and original body, and a description of all.

    Every image the crawler fetched is evidence, kept or not (an SVG with a script is as much what
    was online as a photo); the ones it never fetched (robots.txt, too big) are described only.
    """
    rows = session.scalars(select(Media).where(Media.item_id == item_id).order_by(Media.position, Media.id))
    files: dict[str, bytes] = {}
    entries: list[dict[str, Any]] = []
    for number, row in enumerate(rows, 1):
        entry: dict[str, Any] = {
            "url": row.url,
            "status": row.status.value,
            "sha256": row.sha256,
            "size_bytes": row.size_bytes,
            "sniffed_type": row.sniffed_type,
            "width": row.width,
            "height": row.height,
            "fetched_at": iso(row.fetched_at),
            "detail": row.detail,
        }
        if row.evidence_path is not None:
            copy = read_warc_record(
                {
                    "evidence_path": row.evidence_path,
                    "evidence_offset": row.evidence_offset,
                    "evidence_length": row.evidence_length,
                    "sha256": row.sha256,
                },
                settings,
            )
            entry["warc"] = copy.info
            if copy.data is not None:
                name = f"media/{number:02d}.warc.gz"
                files[name] = copy.data
                entry["warc_file"] = name
                body = _record_body(copy.data) if copy.info.get("status") == "ok" else None
                if body is not None:
                    stored = row.status is MediaStatus.STORED
                    extension = _ORIGINAL_EXTENSIONS.get(row.sniffed_type or "", ".bin") if stored else ".bin"
                    name = f"media/{number:02d}-original{extension}"
                    files[name] = body
                    entry["original_file"] = name
        entries.append(entry)
    return files, entries


def _first_record(data: bytes) -> StoredRecord:
    record = read_record(io.BytesIO(data))
    if record is None:
        raise StopIteration  # as reading an empty archive's first record does
    return record


def _record_body(data: bytes) -> bytes | None:
    try:
        return bytes(_first_record(data).body)
    except Exception:  # read_warc_record already checked it; a second failure leaves the body out
        return None


def build_bundle(session: Session, case: Case, settings: Settings, *, now: datetime | None = None) -> bytes:
    """The signed ZIP of a case (not stored: see ``store_bundle``)."""
    files, warc_info = bundle_files(session, case, settings)
    key = load_signing_key(settings)
    manifest = {
        "format": BUNDLE_FORMAT,
        "case_id": case.id,
        "created_at": iso(now or datetime.now(UTC)),
        "signature": {"algorithm": "Ed25519", "public_key": key_fingerprint(key.public_key())},
        "warc": warc_info,
        "files": [
            {"path": name, "sha256": hashlib.sha256(data).hexdigest(), "size": len(data)}
            for name, data in sorted(files.items())
        ],
    }
    manifest_bytes = _json_bytes(manifest)
    signature = base64.b64encode(key.sign(manifest_bytes)) + b"\n"
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, data in sorted(files.items()):
            archive.writestr(name, data)
        archive.writestr(MANIFEST_NAME, manifest_bytes)
        archive.writestr(SIGNATURE_NAME, signature)
    return buffer.getvalue()


def bundle_dir(settings: Settings) -> Path:
    return settings.var_dir / "cases"


def store_bundle(session: Session, case: Case, settings: Settings) -> None:
    """Build the case's bundle, write it under var_dir/cases and record its path and SHA-256."""
    data = build_bundle(session, case, settings)
    folder = bundle_dir(settings)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"case-{case.id}.zip"
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=".bundle-")
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    # Relative to var_dir so the store of record survives moving var_dir.
    case.evidence_path = str(path.relative_to(settings.var_dir))
    case.evidence_sha256 = hashlib.sha256(data).hexdigest()


def read_bundle(case: Case, settings: Settings) -> bytes:
    if not case.evidence_path:
        raise NotFound(f"case {case.id} has no evidence bundle")
    path = settings.var_dir / case.evidence_path
    try:
        data = path.read_bytes()
    except OSError:
        raise NotFound(f"the evidence bundle of case {case.id} is missing from {path}") from None
    if case.evidence_sha256 and hashlib.sha256(data).hexdigest() != case.evidence_sha256:
        # Never hand out a bundle that is not the one recorded at escalation.
        raise ServiceUnavailable(
            f"the evidence bundle of case {case.id} at {path} does not match its recorded SHA-256 "
            "(changed on disk: restore it from backup)"
        )
    return data


# --- verification -----------------------------------------------------------------------------


@dataclass
class VerifyReport:
    ok: bool
    case_id: int | None = None
    public_key: str | None = None
    files: int = 0
    problems: list[str] = field(default_factory=list)
    warc_status: str | None = None


def verify_bundle(data: bytes | Path, public_key: Ed25519PublicKey) -> VerifyReport:
    """Check a bundle: signature of the manifest, then every file against its listed SHA-256.

    Files that are in the ZIP but not in the manifest, and listed files that are missing, are
    problems too. Never raises for a bad bundle: the report says what is wrong.
    """
    report = VerifyReport(ok=False, public_key=key_fingerprint(public_key))
    try:
        archive = zipfile.ZipFile(io.BytesIO(data) if isinstance(data, bytes) else data)
    except (zipfile.BadZipFile, OSError, ValueError) as exc:
        report.problems.append(f"not a ZIP file: {exc}")
        return report
    try:
        with archive:
            _check_archive(archive, public_key, report)
    except (zipfile.BadZipFile, zlib.error, EOFError, NotImplementedError, RuntimeError, OSError, ValueError) as exc:
        # A member whose data is damaged (bad CRC, broken deflate stream, unknown compression).
        report.problems.append(f"the archive is corrupt: {type(exc).__name__}: {exc}")
    report.ok = not report.problems
    return report


def _check_archive(archive: zipfile.ZipFile, public_key: Ed25519PublicKey, report: VerifyReport) -> None:
    """``verify_bundle``'s checks of an opened archive; each problem found goes into ``report``."""
    infos = archive.infolist()
    if len(infos) > MAX_VERIFY_MEMBERS:
        report.problems.append(f"the archive has {len(infos)} files, more than a bundle ever has")
        return
    if any(info.file_size > MAX_VERIFY_MEMBER_BYTES for info in infos):
        report.problems.append("the archive holds a file larger than any bundle would")
        return
    names = {info.filename for info in infos}
    if MANIFEST_NAME not in names or SIGNATURE_NAME not in names:
        report.problems.append(f"{MANIFEST_NAME} or {SIGNATURE_NAME} is missing: not a Saqshy evidence bundle")
        return
    manifest_bytes = archive.read(MANIFEST_NAME)
    try:
        public_key.verify(base64.b64decode(archive.read(SIGNATURE_NAME).strip(), validate=True), manifest_bytes)
    except (InvalidSignature, ValueError):
        report.problems.append("the manifest's signature does not match this public key")
        return
    try:
        manifest = json.loads(manifest_bytes)
        listed = {entry["path"]: entry for entry in manifest["files"]}
    except (ValueError, KeyError, TypeError) as exc:
        report.problems.append(f"the manifest is signed but unreadable: {exc}")
        return
    report.case_id = manifest.get("case_id")
    report.warc_status = (manifest.get("warc") or {}).get("status")
    for name, entry in sorted(listed.items()):
        if name not in names:
            report.problems.append(f"{name}: listed in the manifest but missing from the archive")
            continue
        digest = hashlib.sha256(archive.read(name)).hexdigest()
        if digest != entry.get("sha256"):
            report.problems.append(f"{name}: SHA-256 {digest} differs from the manifest's {entry.get('sha256')}")
        else:
            report.files += 1
    for name in sorted(names - set(listed) - {MANIFEST_NAME, SIGNATURE_NAME}):
        report.problems.append(f"{name}: in the archive but not in the signed manifest")
