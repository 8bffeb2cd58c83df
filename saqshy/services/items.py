"""Ingest of content items into the store of record.

One row per canonical URL: a recrawl updates the row in place and records whether the text
changed. Every write also queues the item in ``search_outbox`` in the same transaction, so the
search index can never miss an item, whatever happens to Elasticsearch. When the index is the
FTS5 index inside the store's own SQLite database, a *new* item's document is written in that
transaction instead (same atomicity, no outbox round trip).
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast
from urllib.parse import urlsplit, urlunsplit

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError, field_validator
from sqlalchemy import (
    Connection,
    Executable,
    Integer,
    Result,
    String,
    Table,
    any_,
    bindparam,
    func,
    insert,
    literal,
    literal_column,
    select,
)
from sqlalchemy import cast as sql_cast
from sqlalchemy.dialects import postgresql
from sqlalchemy.orm import Session

from saqshy.db.bulk import insert_many, unprepared
from saqshy.db.models import ContentItem, OutboxOp, SearchOutbox
from saqshy.errors import InvalidInput, NotFound
from saqshy.search import index_in_store
from saqshy.search.sqlite_fts import SqliteFtsEngine
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


# Lookups by canonical URL, built once. An ``in_(list)`` built per call coerces every one of its
# hundreds of literals and cost more than the query; an expanding IN still renders one
# placeholder per key at each execution (which PostgreSQL and psycopg then also parse). So the
# keys travel as one parameter, a JSON array (``json.dumps`` is C; psycopg dumps a list parameter
# as an array in Python): ``= ANY(ARRAY(SELECT json_array_elements_text(…)))``
# on PostgreSQL, ``IN (SELECT value FROM json_each(?))`` on SQLite; other engines get the
# expanding IN.
_PG_KEYS = func.array(
    select(func.json_array_elements_text(sql_cast(bindparam("keys", type_=String), postgresql.JSON))).scalar_subquery()
)
_KEY_CONDITIONS = {
    # = ANY(an array), as with an array parameter: an index condition, whatever the planner
    # guesses of the number of keys.
    "postgresql": ContentItem.canonical_url == any_(_PG_KEYS),
    "sqlite": ContentItem.canonical_url.in_(
        select(literal_column("value")).select_from(func.json_each(bindparam("keys", type_=String)))
    ),
    "other": ContentItem.canonical_url.in_(bindparam("keys", expanding=True)),
}
_KNOWN_IDS: dict[str, Executable] = {
    name: select(ContentItem.id).where(where) for name, where in _KEY_CONDITIONS.items()
}
_NEW_IDS: dict[str, Executable] = {
    name: select(ContentItem.id, ContentItem.canonical_url).where(where) for name, where in _KEY_CONDITIONS.items()
}
# PostgreSQL: ids for the new rows taken from the table's sequence before they are written, and
# their outbox rows inserted by the same statement (a data-modifying WITH): the COPY then carries
# the ids, and no lookup by canonical URL (an index probe per new row) finds them afterwards.
_PG_IDS = (
    select(
        func.nextval(
            sql_cast(
                select(func.pg_get_serial_sequence(ContentItem.__tablename__, "id")).scalar_subquery(),
                postgresql.REGCLASS,
            )
        ).label("id")
    )
    .select_from(func.generate_series(1, bindparam("count", type_=Integer)))
    .cte("ids")
)
_PG_NEW_IDS_QUEUED = (
    select(_PG_IDS.c.id)
    .add_cte(
        insert(SearchOutbox)
        .from_select(
            ["item_id", "op", "created_at", "attempts"],
            select(
                _PG_IDS.c.id,
                literal(OutboxOp.UPSERT, SearchOutbox.__table__.c.op.type),
                bindparam("now", type_=SearchOutbox.__table__.c.created_at.type),
                literal(0),
            ),
        )
        .cte("queued")
    )
    .order_by(_PG_IDS.c.id)
)


def _by_keys(connection: Connection, statements: dict[str, Executable], keys: list[str]) -> Result[Any, Any]:
    """Run one of the statements above for these canonical URLs."""
    dialect = connection.dialect.name
    if dialect in ("sqlite", "postgresql"):
        return connection.execute(statements[dialect], {"keys": json.dumps(keys)})
    return connection.execute(statements["other"], {"keys": keys})


def ingest_items(session: Session, items: Sequence[ItemIn | dict[str, Any]], settings: Settings) -> list[IngestResult]:
    """Validate every item first (all or nothing), then insert new rows and update known ones.

    The caller commits. Items with the same canonical URL in one batch collapse to the last one.
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
        return _write(session, connection, by_canonical, order, settings, now)


def _write(
    session: Session,
    connection: Connection,
    by_canonical: dict[str, dict[str, Any]],
    order: list[str],
    settings: Settings,
    now: datetime,
) -> list[IngestResult]:
    """``ingest_items`` once its input is valid: the writes, in the caller's transaction."""
    # Which canonical URLs are known: a plain Core query (a bulk load mostly finds none), then
    # ORM objects for those only.
    keys = list(by_canonical)
    known: list[int] = []
    for start in range(0, len(keys), 500):
        known.extend(_by_keys(connection, _KNOWN_IDS, keys[start : start + 500]).scalars())
    existing: dict[str, ContentItem] = {}
    for start in range(0, len(known), 500):
        for row in session.scalars(select(ContentItem).where(ContentItem.id.in_(known[start : start + 500]))):
            existing[row.canonical_url] = row

    in_store = index_in_store(settings, connection.engine)
    # On PostgreSQL the statement that reads the new ids back also queues them in the outbox.
    queue_with_ids = not in_store and connection.dialect.name == "postgresql"
    results: dict[str, IngestResult] = {}
    new_rows = [values for key, values in by_canonical.items() if key not in existing]
    if new_rows:
        for values in new_rows:
            values["created_at"] = now
            values["updated_at"] = now
            values["fetch_count"] = 1
            values["text_changed_count"] = 0
        # A plain executemany (no RETURNING), then the new ids by canonical URL: psycopg pipelines
        # an executemany with one prepared statement, while INSERT … RETURNING for many rows is
        # rendered as one huge multi-VALUES statement per page that psycopg must parse every time
        # (and, with sort_by_parameter_order, SQLite runs one INSERT per row). On PostgreSQL the
        # ids are taken first (and the rows queued in the outbox by the same statement).
        sqlite = connection.dialect.name == "sqlite"
        new_keys = [values["canonical_url"] for values in new_rows]
        if queue_with_ids:
            ids = connection.execute(_PG_NEW_IDS_QUEUED, {"count": len(new_rows), "now": now}).scalars().all()
            for values, item_id in zip(new_rows, ids, strict=True):
                values["id"] = item_id
                results[values["canonical_url"]] = IngestResult(item_id=item_id, created=True, text_changed=True)
            new_keys = []
        if sqlite:
            before = connection.exec_driver_sql("SELECT max(id) FROM content_items").scalar() or 0
        insert_many(connection, cast(Table, ContentItem.__table__), new_rows)
        if sqlite and _consecutive_ids(connection, before, len(new_rows)):
            # SQLite gave each row the largest id so far plus one, in order: the ids need no lookup.
            for item_id, key in enumerate(new_keys, start=before + 1):
                results[key] = IngestResult(item_id=item_id, created=True, text_changed=True)
            new_keys = []
        for start in range(0, len(new_keys), 500):
            for item_id, canonical in _by_keys(connection, _NEW_IDS, new_keys[start : start + 500]).all():
                results[canonical] = IngestResult(item_id=item_id, created=True, text_changed=True)

    for key, row in existing.items():
        values = by_canonical[key]
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
        results[key] = IngestResult(item_id=row.id, created=False, text_changed=text_changed)
    session.flush()

    queued = order
    if in_store:
        # The index is in this database: new items' documents are written in this transaction.
        # A new item has no score or review task yet, so its document is its row.
        SqliteFtsEngine(connection.engine).write_new_items(
            connection,
            [
                (results[key].item_id, by_canonical[key]["title"] or "", by_canonical[key]["text"])
                for key in order
                if results[key].created
            ],
        )
    if in_store or queue_with_ids:
        # Updated rows go through the outbox: their documents also carry scores and decisions,
        # and a drain that read the old version just before this commit must be followed by one
        # that reads the new one.
        queued = [key for key in order if not results[key].created]
    if queued:
        insert_many(
            connection,
            cast(Table, SearchOutbox.__table__),
            [{"item_id": results[key].item_id, "op": OutboxOp.UPSERT, "created_at": now} for key in queued],
        )
    return [results[key] for key in order]


def _consecutive_ids(connection: Connection, before: int, count: int) -> bool:
    """Whether the rows just inserted into content_items took the ids after ``before``, in order.

    Without an explicit id, SQLite gives a row the largest id in the table plus one (a random one
    only once the largest is 2**63 - 1), and the transaction holds the write lock: the rows took
    ``before + 1`` … ``before + count`` exactly when the last one took ``before + count``.
    """
    return connection.exec_driver_sql("SELECT last_insert_rowid()").scalar() == before + count


def ingest_item(session: Session, item: ItemIn | dict[str, Any], settings: Settings) -> IngestResult:
    return ingest_items(session, [item], settings)[0]


def get_item(session: Session, item_id: int) -> ContentItem:
    item = session.get(ContentItem, item_id)
    if item is None:
        raise NotFound(f"item {item_id} does not exist")
    return item


def mark_for_reindex(session: Session, item_ids: Sequence[int]) -> None:
    """Queue items whose search document changed for another reason (a new score, a decision)."""
    if item_ids:
        session.execute(insert(SearchOutbox), [{"item_id": i, "op": OutboxOp.UPSERT} for i in item_ids])
