"""Where the real services for integration tests are, and what to do when one is missing.

A missing service skips its adapter's tests with a clear reason, unless
``SAQSHY_REQUIRE_SERVICES=1`` (set by ``.ci/run``), where it fails the run.
"""

from __future__ import annotations

import socket
from urllib.parse import urlsplit

import pytest
from pydantic_settings import BaseSettings, SettingsConfigDict


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
