"""Where the real services for integration tests are, and what to do when one is missing.

A missing service skips its adapter's tests with a clear reason, unless
``SAQSHY_REQUIRE_SERVICES=1`` (set by ``.ci/run``), where it fails the run.
"""

from __future__ import annotations

import socket
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from urllib.parse import urlsplit

import pytest
from pydantic_settings import BaseSettings, SettingsConfigDict
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url


class TestServices(BaseSettings):
    __test__ = False  # not a test class, despite the name
    model_config = SettingsConfigDict(env_prefix="SAQSHY_", extra="ignore")

    require_services: bool = False
    test_database_url: str = "postgresql+psycopg://saqshy:saqshy@127.0.0.1:5432/saqshy_test"
    test_elasticsearch_url: str = "http://127.0.0.1:9200"
    test_redis_url: str = "redis://127.0.0.1:6379/0"
    test_services_script: str | None = None


SERVICES = TestServices()


def port_open(url: str, default_port: int) -> bool:
    parts = urlsplit(url)
    host = parts.hostname or "127.0.0.1"
    try:
        with socket.create_connection((host, parts.port or default_port), timeout=1.0):
            return True
    except OSError:
        return False


def service_missing(name: str, url: str, reason: str | None = None) -> None:
    message = reason or f"{name} is not reachable at {url}"
    if SERVICES.require_services:
        pytest.fail(f"SAQSHY_REQUIRE_SERVICES=1 but {message}", pytrace=False)
    pytest.skip(f"{message} (set SAQSHY_TEST_* URLs or run .ci/run to test this adapter)")


@contextmanager
def private_database(label: str) -> Iterator[str]:
    """A PostgreSQL database of the caller's own, next to the test database, dropped afterwards.

    Private so a suite neither sees nor disturbs other suites' tables when test runs share the
    server (the test role may create databases: ``scripts/services.sh``).
    """
    base = SERVICES.test_database_url
    if not port_open(base, 5432):
        service_missing("PostgreSQL", base)
    admin_url = make_url(base).set(drivername="postgresql+psycopg")
    name = f"{admin_url.database or 'saqshy_test'}_{label}_{uuid.uuid4().hex[:10]}"
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    try:
        try:
            with admin.connect() as connection:
                connection.execute(text(f'CREATE DATABASE "{name}"'))
        except Exception as exc:
            service_missing("PostgreSQL", base, f"cannot create a test database on {base}: {exc}")
        yield admin_url.set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()
