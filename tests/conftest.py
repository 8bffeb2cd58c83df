"""Shared fixtures: settings in a temporary folder, and the store on every SQL engine we ship."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, text
from sqlalchemy.orm import Session, sessionmaker

from saqshy.context import Context, build_context
from saqshy.db.migrate import upgrade
from saqshy.db.models import Base
from saqshy.db.session import make_engine, make_session_factory
from saqshy.settings import Settings
from tests.services import SERVICES, port_open, service_missing


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    """Embedded defaults in a private folder; no external service configured."""
    return Settings(
        _env_file=None,  # type: ignore[call-arg]
        var_dir=tmp_path / "var",
        models_dir=tmp_path / "models",
        database_url=None,
        elasticsearch_url=None,
        redis_url=None,
        job_backoff_seconds=0.01,
        job_backoff_max_seconds=0.05,
    )


@pytest.fixture
def ctx(settings: Settings) -> Iterator[Context]:
    context = build_context(settings)
    yield context
    context.close()


_pg_migrated = False


def _postgres_engine(settings: Settings) -> Engine:
    global _pg_migrated
    url = SERVICES.test_database_url
    if not port_open(url, 5432):
        service_missing("PostgreSQL", url)
    engine = make_engine(settings, url=url)
    if not _pg_migrated:
        with engine.begin() as connection:
            connection.execute(text("DROP SCHEMA public CASCADE"))
            connection.execute(text("CREATE SCHEMA public"))
        upgrade(engine)
        _pg_migrated = True
    tables = ", ".join(table.name for table in Base.metadata.sorted_tables)
    with engine.begin() as connection:
        connection.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
    return engine


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.integration)])
def sql_engine(request: pytest.FixtureRequest, settings: Settings) -> Iterator[Engine]:
    """The store of record on each engine we ship: the SQL contract tests use this."""
    if request.param == "sqlite":
        engine = make_engine(settings)
        upgrade(engine)
    else:
        engine = _postgres_engine(settings)
    yield engine
    engine.dispose()


@pytest.fixture
def sessions(sql_engine: Engine) -> sessionmaker[Session]:
    return make_session_factory(sql_engine)
