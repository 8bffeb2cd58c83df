"""Media of crawled items: the ``media`` rows and the thumbnail store.

The crawler fetches an item's images, keeps the original bytes in the WARC evidence and hands
over a ``MediaRecord`` per image reference; ``record_media`` writes them after the items are
ingested (kept out of ``services.items`` so the plain ingest path pays nothing for media).
Thumbnails are our own re-encodes, stored once per content under ``Settings.media_dir`` as
``<aa>/<sha256>.<ext>``; they are the only media bytes the API ever serves.
"""

from __future__ import annotations

import hashlib
import os
import re
import tempfile
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import insert, select, update
from sqlalchemy.orm import Session

from saqshy.db.models import Media, MediaStatus
from saqshy.errors import NotFound
from saqshy.timeutil import utcnow

# Thumbnail formats we write, by file extension: the API's Content-Type comes from here.
THUMBNAIL_TYPES = {"webp": "image/webp", "png": "image/png", "jpg": "image/jpeg"}
_KEY = re.compile(r"^[0-9a-f]{64}\.(webp|png|jpg)$")
# A btree entry on PostgreSQL holds about 2,700 bytes: (item_id, url) must stay under it in UTF-8.
MAX_URL_BYTES = 2000


def storable_url(url: str) -> bool:
    """Short enough for the unique index in UTF-8, and free of NUL (PostgreSQL refuses it)."""
    return "\x00" not in url and len(url.encode("utf-8", "surrogatepass")) <= MAX_URL_BYTES


@dataclass(frozen=True)
class MediaRecord:
    """One image reference of an item, as the crawler saw it (picklable, no ORM)."""

    url: str
    status: MediaStatus
    sha256: str | None = None
    size_bytes: int | None = None
    evidence_path: str | None = None
    evidence_offset: int | None = None
    evidence_length: int | None = None
    sniffed_type: str | None = None
    width: int | None = None
    height: int | None = None
    thumbnail_key: str | None = None
    thumbnail_type: str | None = None
    detail: str | None = None
    fetched_at: datetime | None = None


# --- thumbnail store ---------------------------------------------------------------------------


def is_thumbnail_key(key: str) -> bool:
    return bool(_KEY.match(key))


def thumbnail_path(media_dir: Path, key: str) -> Path:
    if not is_thumbnail_key(key):  # never a path built from anything but our own hash
        raise ValueError(f"not a thumbnail key: {key[:100]!r}")
    return media_dir / key[:2] / key


def store_thumbnail(media_dir: Path, data: bytes, extension: str) -> str:
    """Store ``data`` under its SHA-256 (once: the same image from many items is one file)."""
    if extension not in THUMBNAIL_TYPES:
        raise ValueError(f"unknown thumbnail type {extension!r}")
    key = f"{hashlib.sha256(data).hexdigest()}.{extension}"
    path = thumbnail_path(media_dir, key)
    if path.exists():
        return key
    path.parent.mkdir(parents=True, exist_ok=True)
    # Written aside and renamed: a reader (or a second crawler process) never sees half a file.
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return key


def read_thumbnail(media_dir: Path, key: str) -> tuple[bytes, str]:
    """The bytes and Content-Type of a stored thumbnail; ``NotFound`` when it is gone."""
    try:
        data = thumbnail_path(media_dir, key).read_bytes()
    except (OSError, ValueError):
        raise NotFound("thumbnail not in the media store") from None
    return data, THUMBNAIL_TYPES[key.rsplit(".", 1)[1]]


# --- rows --------------------------------------------------------------------------------------


def record_media(session: Session, media: Sequence[tuple[int, Sequence[MediaRecord]]]) -> int:
    """Insert or update the media rows of items (``(item_id, records)`` pairs); the caller commits.

    A recrawl updates an item's row for the same URL in place; rows for images the page no longer
    shows are kept (they are evidence of what it showed before). Returns the rows written.
    """
    pairs = [(item_id, records) for item_id, records in media if records]
    if not pairs:
        return 0
    existing: dict[tuple[int, str], int] = {}
    item_ids = sorted({item_id for item_id, _ in pairs})
    for start in range(0, len(item_ids), 500):
        chunk = item_ids[start : start + 500]
        for media_id, item_id, url in session.execute(
            select(Media.id, Media.item_id, Media.url).where(Media.item_id.in_(chunk))
        ):
            existing[(item_id, url)] = media_id
    now = utcnow()
    inserts: list[dict[str, Any]] = []
    updates: list[dict[str, Any]] = []
    for item_id, records in pairs:
        seen: set[str] = set()
        for position, record in enumerate(records):
            if record.url in seen or not storable_url(record.url):
                continue
            seen.add(record.url)
            values = asdict(record)
            values.update(item_id=item_id, position=position, updated_at=now)
            if record.detail is not None:
                values["detail"] = record.detail[:300]
            known = existing.get((item_id, record.url))
            if known is None:
                inserts.append({**values, "created_at": now})
            else:
                updates.append({**values, "id": known})
    if inserts:
        session.execute(insert(Media), inserts)
    if updates:
        session.execute(update(Media), updates)
    return len(inserts) + len(updates)


def list_media(session: Session, item_id: int) -> list[Media]:
    return list(session.scalars(select(Media).where(Media.item_id == item_id).order_by(Media.position, Media.id)))


def get_media(session: Session, media_id: int) -> Media:
    row = session.get(Media, media_id)
    if row is None:
        raise NotFound(f"media {media_id} not found")
    return row
