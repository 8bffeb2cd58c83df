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
events); everything else goes through the ORM as usual. ``insert_returning_ids``,
``preallocate_ids`` and ``ids_by_key`` give such rows' ids back without RETURNING.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from operator import itemgetter
from typing import Any

from sqlalchemy import (
    JSON,
    Column,
    ColumnElement,
    Connection,
    Dialect,
    Integer,
    Result,
    Select,
    String,
    Table,
    any_,
    bindparam,
    func,
    insert,
    literal_column,
    select,
)
from sqlalchemy import cast as sql_cast
from sqlalchemy.dialects import postgresql

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


# --- ids of many rows ------------------------------------------------------------------------

# A lookup's keys per execution, under every engine's limit on bound parameters.
KEY_CHUNK = 500


def _key_conditions(column: Column[Any]) -> dict[str, ColumnElement[bool]]:
    """``column`` among the keys of one parameter, per dialect.

    An ``in_(list)`` built per call coerces every literal and cost more than the query, and an
    expanding IN renders one placeholder per key; so on PostgreSQL and SQLite the keys travel as
    one JSON array parameter (``json.dumps`` is C), other engines get the expanding IN.
    """
    return {
        # = ANY(an array), as with an array parameter: an index condition whatever the planner
        # guesses of the number of keys.
        "postgresql": column
        == any_(
            func.array(
                select(
                    func.json_array_elements_text(sql_cast(bindparam("keys", type_=String), postgresql.JSON))
                ).scalar_subquery()
            )
        ),
        "sqlite": column.in_(
            select(literal_column("value")).select_from(func.json_each(bindparam("keys", type_=String)))
        ),
        "other": column.in_(bindparam("keys", expanding=True)),
    }


# Statements built once per table and column (keyed by names: a column's ``==`` builds SQL).
_ID_STATEMENTS: dict[tuple[str, str, bool], dict[str, Select[Any]]] = {}
_ALLOCATE_STATEMENTS: dict[tuple[str, str, str, tuple[str, ...]], Select[Any]] = {}


def _id_statements(column: Column[Any], with_key: bool) -> dict[str, Select[Any]]:
    table = column.table
    name = (table.name, column.name, with_key)
    statements = _ID_STATEMENTS.get(name)
    if statements is None:
        selected = (table.c.id, column) if with_key else (table.c.id,)
        statements = {name: select(*selected).where(where) for name, where in _key_conditions(column).items()}
        _ID_STATEMENTS[name] = statements
    return statements


def _by_keys(connection: Connection, column: Column[Any], keys: list[str], with_key: bool) -> Result[Any, Any]:
    statements = _id_statements(column, with_key)
    dialect = connection.dialect.name
    if dialect in ("sqlite", "postgresql"):
        return connection.execute(statements[dialect], {"keys": json.dumps(keys)})
    return connection.execute(statements["other"], {"keys": keys})


def ids_for_keys(connection: Connection, column: Column[Any], keys: Sequence[str]) -> list[int]:
    """The ids of the rows whose unique ``column`` is one of ``keys`` (in no particular order)."""
    found: list[int] = []
    for start in range(0, len(keys), KEY_CHUNK):
        found.extend(_by_keys(connection, column, list(keys[start : start + KEY_CHUNK]), False).scalars())
    return found


def ids_by_key(connection: Connection, column: Column[Any], keys: Sequence[str]) -> dict[str, int]:
    """Each of ``keys`` that a row's unique ``column`` holds, mapped to that row's id."""
    found: dict[str, int] = {}
    for start in range(0, len(keys), KEY_CHUNK):
        for row_id, key in _by_keys(connection, column, list(keys[start : start + KEY_CHUNK]), True).all():
            found[key] = row_id
    return found


@dataclass(frozen=True)
class Echo:
    """Rows written into ``table`` by the statement that allocates ids: one per id, the id in
    ``id_column`` and each of ``values`` (bound parameters) in the column of its name."""

    table: Table
    id_column: str
    values: Mapping[str, Any]


def _allocate_statement(table: Table, echo: Echo | None) -> Select[Any]:
    name = (
        table.name,
        echo.table.name if echo else "",
        echo.id_column if echo else "",
        tuple(echo.values) if echo else (),
    )
    statement = _ALLOCATE_STATEMENTS.get(name)
    if statement is None:
        statement = _ALLOCATE_STATEMENTS[name] = _build_allocate(table, echo)
    return statement


def _build_allocate(table: Table, echo: Echo | None) -> Select[Any]:
    ids = (
        select(
            func.nextval(
                sql_cast(select(func.pg_get_serial_sequence(table.name, "id")).scalar_subquery(), postgresql.REGCLASS)
            ).label("id")
        )
        .select_from(func.generate_series(1, bindparam("count", type_=Integer)))
        .cte("ids")
    )
    statement = select(ids.c.id)
    if echo is not None:
        # A data-modifying WITH: the echo rows cost no second round trip.
        names = list(echo.values)
        values = [bindparam(name, type_=echo.table.c[name].type) for name in names]
        echoed = insert(echo.table).from_select([echo.id_column, *names], select(ids.c.id, *values)).cte("echoed")
        statement = statement.add_cte(echoed)
    return statement.order_by(ids.c.id)


def preallocate_ids(connection: Connection, table: Table, count: int, echo: Echo | None = None) -> list[int] | None:
    """``count`` new ids from ``table``'s sequence, ascending, for rows not written yet (and the
    ``echo`` rows written for them); ``None`` where the database hands out ids only on insert.

    Ids known before the rows are written travel in the bulk load itself, so no lookup by key
    (an index probe per new row) has to find them afterwards.
    """
    if connection.dialect.name != "postgresql" or count == 0:
        return None
    statement = _allocate_statement(table, echo)
    params = {"count": count, **(echo.values if echo is not None else {})}
    return list(connection.execute(statement, params).scalars())


def insert_returning_ids(
    connection: Connection, table: Table, rows: Sequence[Mapping[str, Any]], key: Column[Any]
) -> list[int]:
    """``insert_many`` of ``rows``, then their ids in row order (``key`` is a unique column every
    row gives). Rows that carry their ``id`` (``preallocate_ids``) keep it.

    A plain bulk INSERT then the ids, not INSERT … RETURNING: for many rows that is rendered as
    one huge multi-VALUES statement per page that the driver parses every time (and SQLite runs
    one INSERT per row to keep the order).
    """
    if not rows:
        return []
    if "id" in rows[0]:
        insert_many(connection, table, rows)
        return [row["id"] for row in rows]
    sqlite = connection.dialect.name == "sqlite"
    if sqlite:
        before = connection.exec_driver_sql(f"SELECT max(id) FROM {table.name}").scalar() or 0
    insert_many(connection, table, rows)
    if sqlite and _consecutive_ids(connection, before, len(rows)):
        return list(range(before + 1, before + len(rows) + 1))
    found = ids_by_key(connection, key, [row[key.name] for row in rows])
    return [found[row[key.name]] for row in rows]


def _consecutive_ids(connection: Connection, before: int, count: int) -> bool:
    """Whether the rows just inserted took the ids after ``before``, in order.

    Without an explicit id, SQLite gives a row the largest id in the table plus one (a random one
    only once the largest is 2**63 - 1), and the transaction holds the write lock: the rows took
    ``before + 1`` … ``before + count`` exactly when the last one took ``before + count``.
    """
    return connection.exec_driver_sql("SELECT last_insert_rowid()").scalar() == before + count
