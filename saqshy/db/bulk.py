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
from typing import Any

from sqlalchemy import Connection, Table

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
    processors: list[Processor | None] = [
        table.c[name].type.dialect_impl(dialect).bind_processor(dialect) for name in names
    ]
    preparer = dialect.identifier_preparer
    target = f"{preparer.format_table(table)} ({', '.join(preparer.quote(name) for name in names)})"
    default_factories = list(defaults.values())
    given_processors = list(zip(given, processors[: len(given)], strict=True))
    default_processors = processors[len(given) :]
    if not any(processors):
        params = [tuple(row[name] for name in given) + tuple(f() for f in default_factories) for row in rows]
    else:
        params = []
        for row in rows:
            values = [row[name] if processor is None else processor(row[name]) for name, processor in given_processors]
            for factory, processor in zip(default_factories, default_processors, strict=True):
                value = factory()
                values.append(value if processor is None else processor(value))
            params.append(tuple(values))
    if dialect.name == "postgresql" and dialect.driver == "psycopg":
        driver_connection: Any = connection.connection.driver_connection
        with driver_connection.cursor() as cursor, cursor.copy(f"COPY {target} FROM STDIN") as copy:
            for param in params:
                copy.write_row(param)
    else:
        marker = "?" if dialect.paramstyle == "qmark" else "%s"
        connection.exec_driver_sql(f"INSERT INTO {target} VALUES ({', '.join([marker] * len(names))})", params)
    return len(params)
