from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from saqshy.settings import Settings
from tests.crawlers.fixture_site import FixtureSite, serve

# Fast, deterministic crawls of a local server: no politeness delays, no retries.
FAST: dict[str, Any] = {
    "AUTOTHROTTLE_ENABLED": False,
    "DOWNLOAD_DELAY": 0,
    "RETRY_ENABLED": False,
    "CONCURRENT_REQUESTS_PER_DOMAIN": 16,
    "SAQSHY_EXTRACT_PROCESSES": 0,
    "LOG_LEVEL": "WARNING",
}


@pytest.fixture(scope="session")
def site() -> Iterator[FixtureSite]:
    fixture, server = serve()
    yield fixture
    server.shutdown()


@pytest.fixture
def crawl_settings(settings: Settings) -> Settings:
    return settings.model_copy(update={"crawler_timeout_seconds": 1.0, "crawler_allowed_networks": "127.0.0.0/8"})
