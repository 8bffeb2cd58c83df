"""``insert_many`` writes exactly what an ORM insert writes, on every SQL engine we ship."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any, cast

import pytest
from sqlalchemy import Table, insert, select
from sqlalchemy.dialects import sqlite
from sqlalchemy.orm import Session, sessionmaker

from saqshy.db.bulk import _convert_column, _sqlite_utc_text, insert_many
from saqshy.db.models import ContentItem, OutboxOp, SearchOutbox
from saqshy.db.session import session_scope

ITEMS = cast(Table, ContentItem.__table__)
OUTBOX = cast(Table, SearchOutbox.__table__)


def _row(n: int, **overrides: Any) -> dict[str, Any]:
    return {
        "url": f"https://bulk.test/{n}",
        "canonical_url": f"https://bulk.test/{n}",
        "language": "kk",
        "title": "Жаңа «жұмыс» ұсынысы",
        "text": f"мәтін ' \" \\ \t tab and newline\n #{n}",
        "fetched_at": datetime(2026, 3, 1, 12, 0, tzinfo=timezone(timedelta(hours=5))),
        "published_at": None,
        "sha256": "a" * 64,
        "extra": {"tags": ["x", "ё"], "nested": {"n": n}},
        **overrides,
    }


def _stored(session: Session, canonical_url: str) -> dict[str, Any]:
    item = session.scalars(select(ContentItem).where(ContentItem.canonical_url == canonical_url)).one()
    return {column.name: getattr(item, column.name) for column in ITEMS.columns if column.name != "id"}


def test_rows_match_an_orm_insert(sessions: sessionmaker[Session]) -> None:
    with session_scope(sessions) as session:
        session.execute(insert(ContentItem), [_row(1, canonical_url="https://bulk.test/orm")])
        insert_many(session.connection(), ITEMS, [_row(1), _row(2, published_at=datetime(2025, 1, 1))])
    with session_scope(sessions) as session:
        orm = _stored(session, "https://bulk.test/orm")
        bulk = _stored(session, "https://bulk.test/1")
        second = _stored(session, "https://bulk.test/2")
    # Python-side defaults are filled the way the ORM fills them.
    for volatile in ("canonical_url", "created_at", "updated_at"):
        orm.pop(volatile), bulk.pop(volatile)
    assert bulk == orm
    assert bulk["fetched_at"] == datetime(2026, 3, 1, 7, 0, tzinfo=UTC)
    assert bulk["fetch_count"] == 1 and bulk["text_changed_count"] == 0 and bulk["is_binary"] is False
    # A naive timestamp is taken as UTC, as UtcDateTime does.
    assert second["published_at"] == datetime(2025, 1, 1, tzinfo=UTC)


def test_enums_and_defaults(sessions: sessionmaker[Session]) -> None:
    with session_scope(sessions) as session:
        item_id = session.execute(insert(ContentItem).returning(ContentItem.id), [_row(3)]).scalar_one()
        assert insert_many(session.connection(), OUTBOX, [{"item_id": item_id, "op": OutboxOp.DELETE}]) == 1
    with session_scope(sessions) as session:
        row = session.scalars(select(SearchOutbox)).one()
    assert row.op is OutboxOp.DELETE and row.attempts == 0 and row.created_at.tzinfo is not None


def test_nothing_to_insert_and_unknown_columns(sessions: sessionmaker[Session]) -> None:
    with session_scope(sessions) as session:
        assert insert_many(session.connection(), ITEMS, []) == 0
        with pytest.raises(ValueError, match="no column"):
            insert_many(session.connection(), ITEMS, [{**_row(4), "colour": "red"}])


@pytest.mark.parametrize(
    "value",
    [
        None,
        datetime(2026, 3, 1, 12, 0),
        datetime(2026, 3, 1, 12, 0, 0, 5, tzinfo=UTC),
        datetime(2026, 3, 1, 2, 30, 59, 999_999, tzinfo=timezone(timedelta(hours=5))),
        datetime(999, 1, 2, 3, 4, 5, tzinfo=timezone(timedelta(hours=-3))),
    ],
)
def test_sqlite_timestamps_are_sqlalchemys_text(value: datetime | None) -> None:
    dialect = sqlite.dialect()
    column_type = ITEMS.c.fetched_at.type
    expected = column_type.dialect_impl(dialect).bind_processor(dialect)(value)  # type: ignore[misc]
    assert _sqlite_utc_text(value) == expected


def test_a_column_of_one_repeated_value_is_converted_once() -> None:
    calls: list[object] = []

    def process(value: object) -> object:
        calls.append(value)
        return f"<{value}>"

    assert _convert_column([None, None, None], process, is_json=False) == ["<None>"] * 3
    assert _convert_column([{}, {}], process, is_json=True) == ["<{}>"] * 2
    assert len(calls) == 2
    # Equal but not interchangeable JSON values are converted one by one.
    assert _convert_column([{"a": 1}, {"a": True}], process, is_json=True) == ["<{'a': 1}>", "<{'a': True}>"]
