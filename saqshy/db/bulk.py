"""Bulk INSERT of many rows straight through the driver: ``COPY`` on PostgreSQL, ``executemany`` elsewhere.

SQLAlchemy's executemany path sends every parameter of every row through its generic
per-parameter machinery: for a wide row such as ``content_items`` that costs several times what
the driver itself spends writing the row, and it dominated bulk ingest. ``insert_many`` renders
the INSERT once, converts only the columns whose type has a bind processor (timestamps, JSON,
enums) with SQLAlchemy's own processors for the connection's dialect, fills Python-side column
defaults the way SQLAlchemy would, and hands plain tuples to the driver: the database receives
exactly the values ``session.execute(insert(table), rows)`` would have sent. On PostgreSQL the
tuples go through psycopg's ``COPY … FROM STDIN`` (the engine's own bulk-load protocol, several
times faster than a pipelined executemany); constraints and triggers apply as for an INSERT, and a
violation aborts the whole statement, as it would abort the executemany.

Use it for plain appends of many rows inside the caller's transaction (no RETURNING, no ORM
events); everything else goes through the ORM as usual.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from operator import itemgetter
from typing import Any

from sqlalchemy import JSON, Connection, Dialect, Table

from saqshy.db.models import UtcDateTime

Processor = Callable[[Any], Any]


def _default_of(table: Table, name: str) -> Callable[[], Any] | None:
    default = table.c[name].default
    if default is None:
        return None
    if default.is_scalar:
        value = default.arg  # type: ignore[attr-defined]
        return lambda: value
    if default.is_callable:
        # SQLAlchemy wraps a zero-argument default so that it takes the execution context.
        function = default.arg  # type: ignore[attr-defined]
        return lambda: function(None)
    return None


def _sqlite_utc_text(value: datetime | None) -> str | None:
    """``UtcDateTime``'s bind processing on SQLite, at a fraction of the cost of SQLAlchemy's chain
    (``process_bind_param`` then the SQLite ``DATETIME`` string format): the same text."""
    if value is None:
        return None
    # The first 26 characters are the date and time, without the "+00:00" of an aware value.
    if value.tzinfo is not UTC:
        value = value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    return value.isoformat(" ", "microseconds")[:26]


def _processor(table: Table, name: str, dialect: Dialect) -> Processor | None:
    """The column's bind processor for the dialect (``None`` when values go to the driver as is)."""
    column_type = table.c[name].type
    if dialect.name == "sqlite" and isinstance(column_type, UtcDateTime):
        return _sqlite_utc_text
    return column_type.dialect_impl(dialect).bind_processor(dialect)


def _convert_column(values: Sequence[Any], process: Processor, is_json: bool) -> Sequence[Any]:
    """``process`` applied to every value of a column. A bulk load mostly repeats one value in a
    column (one ``created_at`` for the batch, ``None``, ``False``, an empty ``extra``): processors
    are pure functions of the value, so such a column is converted once. (Not a non-empty JSON
    value: ``{"a": 1} == {"a": True}``, but they serialise differently.)"""
    first = values[0]
    if (not is_json or first is None or (type(first) is dict and not first)) and values.count(first) == len(values):
        return [process(first)] * len(values)
    return list(map(process, values))


def insert_many(connection: Connection, table: Table, rows: Sequence[Mapping[str, Any]]) -> int:
    """INSERT ``rows`` (dicts keyed by column name, all with the keys of the first) into ``table``.

    Columns missing from the rows get their Python-side default; a missing column without one is
    left to the database (NULL or its server default). Returns the number of rows sent.
    """
    if not rows:
        return 0
    given = list(rows[0])
    unknown = [name for name in given if name not in table.c]
    if unknown:
        raise ValueError(f"{table.name} has no column(s) {', '.join(unknown)}")
    defaults = {
        column.name: factory
        for column in table.columns
        if column.name not in given and (factory := _default_of(table, column.name)) is not None
    }
    names = given + list(defaults)
    dialect = connection.dialect
    preparer = dialect.identifier_preparer
    target = f"{preparer.format_table(table)} ({', '.join(preparer.quote(name) for name in names)})"
    # Column by column: each processor runs over a whole column, and zip() rebuilds the rows.
    get = itemgetter(*given)
    columns: list[Sequence[Any]] = (
        list(zip(*map(get, rows), strict=True)) if len(given) > 1 else [[get(row) for row in rows]]
    )
    columns += [[factory() for _ in rows] for factory in defaults.values()]
    for index, name in enumerate(names):
        process = _processor(table, name, dialect)
        if process is not None:
            columns[index] = _convert_column(columns[index], process, isinstance(table.c[name].type, JSON))
    params = list(zip(*columns, strict=True))
    if dialect.name == "postgresql" and dialect.driver == "psycopg":
        driver_connection: Any = connection.connection.driver_connection
        with driver_connection.cursor() as cursor, cursor.copy(f"COPY {target} FROM STDIN") as copy:
            for param in params:
                copy.write_row(param)
    else:
        marker = "?" if dialect.paramstyle == "qmark" else "%s"
        connection.exec_driver_sql(f"INSERT INTO {target} VALUES ({', '.join([marker] * len(names))})", params)
    return len(params)
