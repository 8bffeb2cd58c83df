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

import json
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from operator import itemgetter
from typing import Any

from sqlalchemy import JSON, Connection, Dialect, Table

from saqshy.db.models import UtcDateTime
from saqshy.timeutil import as_utc

Processor = Callable[[Any], Any]


@contextmanager
def unprepared(connection: Connection) -> Iterator[None]:
    """No server-side prepared statements on this connection inside the block (PostgreSQL/psycopg).

    psycopg prepares a query from its fifth execution, and PostgreSQL then settles on a generic
    plan. Planned while a table is empty (a fresh install, or after a TRUNCATE), the generic plan
    of a lookup such as ``canonical_url = ANY($1)`` is a sequential scan, and it stays cached
    while a bulk load fills the table: every batch then scans every row loaded so far (a 20,000
    item load took 5.6 s instead of 1.6 s). Bulk paths run a few statements per hundreds of rows,
    so planning each execution for its actual table costs nothing measurable.
    """
    if connection.dialect.name != "postgresql" or connection.dialect.driver != "psycopg":
        yield
        return
    driver_connection: Any = connection.connection.driver_connection
    threshold = driver_connection.prepare_threshold
    driver_connection.prepare_threshold = None
    try:
        yield
    finally:
        driver_connection.prepare_threshold = threshold


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


def _omittable(table: Table, name: str, dialect: Dialect) -> bool:
    """Whether leaving the column out of an INSERT writes what sending None does: NULL (a JSON
    column's None, for one, is the JSON text ``null``)."""
    column = table.c[name]
    if column.server_default is not None or column.identity is not None or column.computed is not None:
        return False
    if column.primary_key:
        return False
    process = _processor(table, name, dialect)
    return process is None or process(None) is None


def _sqlite_utc_text(value: datetime | None) -> str | None:
    """``UtcDateTime``'s bind processing on SQLite, at a fraction of the cost of SQLAlchemy's chain
    (``process_bind_param`` then the SQLite ``DATETIME`` string format): the same text."""
    if value is None:
        return None
    # The first 26 characters are the date and time, without the "+00:00" of an aware value.
    if value.tzinfo is not UTC:
        value = as_utc(value)
    return value.isoformat(" ", "microseconds")[:26]


def _processor(table: Table, name: str, dialect: Dialect) -> Processor | None:
    """The column's bind processor for the dialect (``None`` when values go to the driver as is)."""
    column_type = table.c[name].type
    if dialect.name == "sqlite" and isinstance(column_type, UtcDateTime):
        return _sqlite_utc_text
    return column_type.dialect_impl(dialect).bind_processor(dialect)


def _binary_copy_types(table: Table, names: list[str], dialect: Dialect) -> list[str] | None:
    """The PostgreSQL type of each column, for a binary COPY; ``None`` where one has no binary
    form we can write here (then the COPY is in text format).

    Binary COPY sends each value as its wire form: no escaping of every text value on our side,
    no text parsing of timestamps and numbers on the server's. A JSON column's value is already
    its JSON text (``_copy_json``), which is exactly ``json``'s binary form, so it is written as
    ``text``; ``jsonb``'s binary form has a version byte, so a ``jsonb`` column keeps text COPY.
    """
    from psycopg.postgres import types as registry

    found = []
    for name in names:
        compiled = table.c[name].type.compile(dialect=dialect).lower().split("(")[0].strip()
        if compiled == "json":
            compiled = "text"
        info = registry.get(compiled)
        if info is None or compiled == "jsonb":
            return None
        found.append(info.name)
    return found


def _copy_json(process: Processor, dialect: Dialect) -> Processor:
    """A JSON column's bind processing for COPY: its JSON text, not psycopg's ``Json`` wrapper.

    COPY's text format carries a value as its text, so the server reads the same JSON either way;
    but ``write_row`` would serialise a wrapper once per row even when ``_convert_column`` made
    one wrapper for the whole column (every row's empty ``extra``), and that was a tenth of the
    SQL stage's CPU. The text is what psycopg's JSON dumper writes: the wrapper's own ``dumps``,
    else the engine's ``json_serializer``, else ``json.dumps``.
    """
    from psycopg.types.json import Json, Jsonb

    default = getattr(dialect, "_json_serializer", None) or json.dumps

    def convert(value: Any) -> Any:
        value = process(value)
        if isinstance(value, Json | Jsonb):
            return (value.dumps or default)(value.obj)
        return value

    return convert


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
    # Column by column: each processor runs over a whole column, and zip() rebuilds the rows.
    get = itemgetter(*given)
    columns: list[Sequence[Any]] = (
        list(zip(*map(get, rows), strict=True)) if len(given) > 1 else [[get(row) for row in rows]]
    )
    columns += [[factory() for _ in rows] for factory in defaults.values()]
    # A column that is NULL in every row is left out: the database writes NULL all the same, and
    # binding it cost as much as a real value (an item has a dozen such optional fields). Not a
    # column the database would fill itself (a server default, an identity, a primary key).
    kept = [
        index
        for index, name in enumerate(names)
        if columns[index].count(None) != len(rows) or not _omittable(table, name, dialect)
    ]
    if len(kept) < len(names):
        names = [names[index] for index in kept]
        columns = [columns[index] for index in kept]
    preparer = dialect.identifier_preparer
    target = f"{preparer.format_table(table)} ({', '.join(preparer.quote(name) for name in names)})"
    use_copy = dialect.name == "postgresql" and dialect.driver == "psycopg"
    for index, name in enumerate(names):
        process = _processor(table, name, dialect)
        is_json = isinstance(table.c[name].type, JSON)
        if process is not None and is_json and use_copy:
            process = _copy_json(process, dialect)
        if process is not None:
            columns[index] = _convert_column(columns[index], process, is_json)
    params = list(zip(*columns, strict=True))
    if use_copy:
        types = _binary_copy_types(table, names, dialect)
        driver_connection: Any = connection.connection.driver_connection
        options = " (FORMAT BINARY)" if types is not None else ""
        with driver_connection.cursor() as cursor, cursor.copy(f"COPY {target} FROM STDIN{options}") as copy:
            if types is not None:
                copy.set_types(types)
            for param in params:
                copy.write_row(param)
    else:
        marker = "?" if dialect.paramstyle == "qmark" else "%s"
        connection.exec_driver_sql(f"INSERT INTO {target} VALUES ({', '.join([marker] * len(names))})", params)
    return len(params)
