"""Alembic environment: uses the engine handed over by ``saqshy.db.migrate`` when there is one."""

from __future__ import annotations

from typing import Any, Literal

from alembic import context
from sqlalchemy import create_engine

from saqshy.db.models import Base

config = context.config
target_metadata = Base.metadata


def include_object(obj: object, name: str | None, type_: str, reflected: bool, compare_to: object) -> bool:
    # The FTS5 search index keeps its own derived tables in the SQLite file: not ours to migrate.
    return not (type_ == "table" and reflected and compare_to is None and (name or "").startswith("search_"))


def render_item(type_: str, obj: Any, autogen_context: Any) -> str | Literal[False]:
    # Migrations spell the plain column type, so they never import the models module.
    if type_ == "type" and type(obj).__name__ == "UtcDateTime":
        return "sa.DateTime(timezone=True)"
    return False


def run_migrations_offline() -> None:
    context.configure(
        url=config.get_main_option("sqlalchemy.url"),
        target_metadata=target_metadata,
        literal_binds=True,
        include_object=include_object,
        render_as_batch=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    engine = config.attributes.get("engine")
    if engine is None:
        engine = create_engine(config.get_main_option("sqlalchemy.url") or "")
    with engine.connect() as connection:
        context.configure(
            connection=connection,
            target_metadata=target_metadata,
            # SQLite cannot ALTER most things: batch mode rebuilds tables instead.
            render_as_batch=connection.dialect.name == "sqlite",
            compare_type=True,
            include_object=include_object,
            render_item=render_item,
        )
        with context.begin_transaction():
            if connection.dialect.name == "sqlite" and _has_work(config, context.get_context()):
                # The embedded search index reads new items' text from content_items through a
                # view and triggers, which SQLite would check (and fail) when a batch operation
                # renames a rebuilt content_items: the index keeps its own copy of the text while
                # migrations run, and reattaches on its next write of new items.
                from saqshy.search.sqlite_fts import SqliteFtsEngine

                SqliteFtsEngine(engine).detach_from_store(connection)
            context.run_migrations()
        connection.commit()


def _has_work(config: Any, migration_context: Any) -> bool:
    """Whether this command may run a migration (not an upgrade of a database already at head)."""
    from alembic.script import ScriptDirectory

    heads = set(ScriptDirectory.from_config(config).get_heads())
    if set(migration_context.get_current_heads()) != heads:
        return True
    target = context.get_revision_argument()
    targets = set(target) if isinstance(target, tuple | list) else {target}
    return not targets <= {"head", "heads", *heads}


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
