"""Ingest of content items into the store of record.

One row per canonical URL: a recrawl updates the row in place and records whether the text
changed. Every write also queues the item in ``search_outbox`` in the same transaction, so the
search index can never miss an item, whatever happens to Elasticsearch. When the search engine's
index lives in the store itself (``SearchEngine.indexes_in_store``), a *new* item's document is
written in that transaction instead (same atomicity, no outbox round trip). The bulk mechanics of
each database (ids without RETURNING, lookups by key) live in ``saqshy.db.bulk``.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast
from urllib.parse import urlsplit, urlunsplit

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError, field_validator
from sqlalchemy import (
    Connection,
    Table,
    select,
)
from sqlalchemy.orm import Session

from saqshy.db.bulk import (
    KEY_CHUNK,
    Echo,
    ids_for_keys,
    insert_many,
    insert_returning_ids,
    preallocate_ids,
    unprepared,
)
from saqshy.db.models import ContentItem, OutboxOp, SearchOutbox
from saqshy.errors import InvalidInput, NotFound
from saqshy.search import SearchEngine, in_store_search_engine
from saqshy.settings import Settings
from saqshy.timeutil import utcnow

LANGUAGES = ("ru", "kk", "en", "other")
# An http(s) scheme and a non-empty host part: what ``urlsplit`` would find, at a tenth of its cost
# on the ingest path (a bracketed IPv6 host still goes through ``urlsplit`` to be checked).
_HTTP_URL = re.compile(r"(?i:https?)://[^/?#]")


def sha256_hex(data: bytes | str) -> str:
    if isinstance(data, str):
        data = data.encode("utf-8", errors="surrogatepass")
    return hashlib.sha256(data).hexdigest()


def basic_canonical_url(url: str) -> str:
    """A conservative canonical form; crawlers pass a better one (rel=canonical, tracking params)."""
    parts = urlsplit(url.strip())
    return urlunsplit((parts.scheme.lower(), parts.netloc.lower(), parts.path or "/", parts.query, ""))


class ItemIn(BaseModel):
    """An item as a crawler (or an import) hands it to the store."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=False)

    url: str = Field(min_length=1)
    canonical_url: str | None = None
    source_id: int | None = None
    post_id: str | None = Field(default=None, max_length=200)
    author: str | None = Field(default=None, max_length=500)
    published_at: datetime | None = None
    fetched_at: datetime | None = None
    language: str = "other"
    title: str | None = None
    text: str = ""
    content_type: str | None = Field(default=None, max_length=200)
    is_binary: bool = False
    size_bytes: int | None = Field(default=None, ge=0)
    sha256: str | None = Field(default=None, pattern=r"^[0-9a-f]{64}$")
    simhash: int | None = None
    cluster_id: int | None = None
    evidence_path: str | None = Field(default=None, max_length=1024)
    evidence_offset: int | None = Field(default=None, ge=0)
    evidence_length: int | None = Field(default=None, ge=0)
    server_ip: str | None = Field(default=None, max_length=64)
    extra: dict[str, Any] = Field(default_factory=dict)

    @field_validator("url", "canonical_url")
    @classmethod
    def _http_url(cls, value: str | None) -> str | None:
        if value is None:
            return None
        value = value.strip()
        if _HTTP_URL.match(value) is None:
            raise ValueError(f"not an http(s) URL: {value[:200]!r}")
        if "[" in value:
            urlsplit(value)  # raises ValueError on a malformed IPv6 host
        return value

    @field_validator("language")
    @classmethod
    def _language(cls, value: str) -> str:
        if value not in LANGUAGES:
            raise ValueError(f"language must be one of {', '.join(LANGUAGES)}, got {value!r}")
        return value


@dataclass(frozen=True)
class IngestResult:
    item_id: int
    created: bool
    text_changed: bool


def parse_item(data: ItemIn | dict[str, Any], settings: Settings) -> ItemIn:
    """Validate against the schema and the store's limits; raise InvalidInput with a clear message."""
    if isinstance(data, dict):
        _check_url_given(data)
        try:
            item = ItemIn.model_validate(data)
        except ValidationError as exc:
            raise InvalidInput(f"invalid item: {_problems(exc.errors())}") from None
    else:
        item = data
    _check_limits(item.url, item.text, item.title, settings)
    return item


def _check_url_given(data: dict[str, Any]) -> None:
    if not data.get("url"):
        raise InvalidInput("an item needs a URL (field 'url' is missing or empty)")


def _problems(errors: Sequence[Any]) -> str:
    return "; ".join(
        f"{'.'.join(str(p) for p in err['loc']) or 'item'}: {err['msg'].removeprefix('Value error, ')}"
        for err in errors
    )


_ITEMS = cast(Table, ContentItem.__table__)
_OUTBOX = cast(Table, SearchOutbox.__table__)
_CANONICAL_URL = _ITEMS.c.canonical_url

# A whole batch of dicts in one call into pydantic-core, not one ``model_validate`` per item.
_ITEM_LIST = TypeAdapter(list[ItemIn])


def _parse_all(items: Sequence[ItemIn | dict[str, Any]], settings: Settings) -> list[dict[str, Any]]:
    """``parse_item`` for every item, as dicts of field values (what ``ingest_items`` works on);
    raises InvalidInput for the first bad one, naming its place in the batch."""
    dicts = [data for data in items if isinstance(data, dict)]
    for data in dicts:
        _check_url_given(data)
    try:
        validated = iter(_ITEM_LIST.validate_python(dicts))
    except ValidationError as exc:
        errors = exc.errors()
        first = errors[0]["loc"][0]
        position = next(i for i, data in enumerate(items) if data is dicts[int(first)]) + 1
        problems = _problems([{**err, "loc": err["loc"][1:]} for err in errors if err["loc"][0] == first])
        raise InvalidInput(f"invalid item (#{position} of {len(items)}): {problems}") from None
    parsed = []
    for given in items:
        # The model is flat and ``extra`` is not modified later, so its fields are its dump: a
        # model made here gives its own field dict; a caller's ItemIn is copied, never altered.
        item = next(validated) if isinstance(given, dict) else given
        _check_limits(item.url, item.text, item.title, settings)
        parsed.append(item.__dict__ if item is not given else dict(item.__dict__))
    return parsed


def _check_limits(url: str, text: str, title: str | None, settings: Settings) -> None:
    if len(url) > settings.max_url_chars:
        raise InvalidInput(f"URL is {len(url)} characters, over the limit of {settings.max_url_chars}")
    if len(text) > settings.max_text_chars:
        raise InvalidInput(
            f"text is {len(text)} characters, over the limit of {settings.max_text_chars} (item {url[:200]})"
        )
    if title is not None and len(title) > settings.max_title_chars:
        raise InvalidInput(f"title is {len(title)} characters, over the limit of {settings.max_title_chars}")


def _row_values(values: dict[str, Any], now: datetime) -> dict[str, Any]:
    text = values["text"]
    if not values["canonical_url"]:
        values["canonical_url"] = basic_canonical_url(values["url"])
    if values["fetched_at"] is None:
        values["fetched_at"] = now
    text_sha256 = sha256_hex(text)
    if values["sha256"] is None:
        values["sha256"] = text_sha256
    values["text_sha256"] = text_sha256 if text else None
    return values


def ingest_items(
    session: Session,
    items: Sequence[ItemIn | dict[str, Any]],
    settings: Settings,
    search: SearchEngine | None = None,
) -> list[IngestResult]:
    """Validate every item first (all or nothing), then insert new rows and update known ones.

    The caller commits. Items with the same canonical URL in one batch collapse to the last one.
    ``search`` is the context's search engine (by default the index in the store, if it is there).
    """
    now = utcnow()
    parsed = [_row_values(values, now) for values in _parse_all(items, settings)]
    by_canonical: dict[str, dict[str, Any]] = {}
    order: list[str] = []
    for values in parsed:
        key = values["canonical_url"]
        if key not in by_canonical:
            order.append(key)
        by_canonical[key] = values
    if not by_canonical:
        return []
    connection = session.connection()
    with unprepared(connection):
        return _write(session, connection, by_canonical, order, settings, now, search)


def _write(
    session: Session,
    connection: Connection,
    by_canonical: dict[str, dict[str, Any]],
    order: list[str],
    settings: Settings,
    now: datetime,
    search: SearchEngine | None,
) -> list[IngestResult]:
    """``ingest_items`` once its input is valid: the writes, in the caller's transaction."""
    existing = _known_rows(session, connection, list(by_canonical))
    index = _index_in_transaction(settings, connection, search)
    results: dict[str, IngestResult] = {}
    new_rows = [values for key, values in by_canonical.items() if key not in existing]
    queued_with_ids = _insert_new(connection, new_rows, now, results, queue=index is None)
    for key, row in existing.items():
        results[key] = _update_known(row, by_canonical[key])
    session.flush()
    if index is not None:
        # A new item has no score or review task yet, so its document is its row.
        new = [key for key in order if results[key].created]
        index.index_new_items(
            connection,
            [(results[key].item_id, by_canonical[key]["title"] or "", by_canonical[key]["text"]) for key in new],
        )
    # Updated rows always go through the outbox: their documents also carry scores and decisions,
    # and a drain that read the old version just before this commit must be followed by one that
    # reads the new one.
    in_transaction = index is not None or queued_with_ids
    queued = [key for key in order if not results[key].created] if in_transaction else order
    if queued:
        insert_many(
            connection,
            _OUTBOX,
            [{"item_id": results[key].item_id, "op": OutboxOp.UPSERT, "created_at": now} for key in queued],
        )
    return [results[key] for key in order]


def _known_rows(session: Session, connection: Connection, keys: list[str]) -> dict[str, ContentItem]:
    """The stored items among these canonical URLs: ids by a plain Core query (a bulk load mostly
    finds none), then ORM objects for those only."""
    known = ids_for_keys(connection, _CANONICAL_URL, keys)
    existing: dict[str, ContentItem] = {}
    for start in range(0, len(known), KEY_CHUNK):
        for row in session.scalars(select(ContentItem).where(ContentItem.id.in_(known[start : start + KEY_CHUNK]))):
            existing[row.canonical_url] = row
    return existing


def _index_in_transaction(
    settings: Settings, connection: Connection, search: SearchEngine | None
) -> SearchEngine | None:
    """The search engine that indexes new items in their own transaction, if the index is in the store."""
    engine = search if search is not None else in_store_search_engine(settings, connection.engine)
    return engine if engine is not None and engine.indexes_in_store(connection) else None


def _insert_new(
    connection: Connection, rows: list[dict[str, Any]], now: datetime, results: dict[str, IngestResult], *, queue: bool
) -> bool:
    """Insert the new items and record their results. With ``queue``, their outbox rows are written
    by the statement that allocates their ids where the store has one; returns whether it did."""
    if not rows:
        return False
    for values in rows:
        values.update(created_at=now, updated_at=now, fetch_count=1, text_changed_count=0)
    echo = Echo(_OUTBOX, "item_id", {"op": OutboxOp.UPSERT, "created_at": now, "attempts": 0}) if queue else None
    preallocated = preallocate_ids(connection, _ITEMS, len(rows), echo) if queue else None
    for values, item_id in zip(rows, preallocated or (), strict=False):
        values["id"] = item_id
    ids = insert_returning_ids(connection, _ITEMS, rows, _CANONICAL_URL)
    for values, item_id in zip(rows, ids, strict=True):
        results[values["canonical_url"]] = IngestResult(item_id=item_id, created=True, text_changed=True)
    return preallocated is not None


def _update_known(row: ContentItem, values: dict[str, Any]) -> IngestResult:
    """A recrawl of a stored item: its row takes the new values (missing optional ones kept)."""
    text_changed = row.text_sha256 != values["text_sha256"]
    for name, value in values.items():
        if name in ("extra",) and not value:
            continue
        if value is None and name in ("source_id", "cluster_id", "simhash", "author", "post_id"):
            continue
        setattr(row, name, value)
    row.fetch_count = (row.fetch_count or 0) + 1
    if text_changed:
        row.text_changed_count = (row.text_changed_count or 0) + 1
    return IngestResult(item_id=row.id, created=False, text_changed=text_changed)


def ingest_item(
    session: Session, item: ItemIn | dict[str, Any], settings: Settings, search: SearchEngine | None = None
) -> IngestResult:
    return ingest_items(session, [item], settings, search)[0]


def get_item(session: Session, item_id: int) -> ContentItem:
    item = session.get(ContentItem, item_id)
    if item is None:
        raise NotFound(f"item {item_id} does not exist")
    return item


def mark_for_reindex(session: Session, item_ids: Sequence[int]) -> None:
    """Queue items whose search document changed for another reason (a new score, a decision)."""
    if item_ids:
        insert_many(session.connection(), _OUTBOX, [{"item_id": i, "op": OutboxOp.UPSERT} for i in item_ids])
