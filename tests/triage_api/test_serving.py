"""The process tuning of ``saqshy serve`` (the end-to-end run is tests/saqshy/test_cli.py)."""

from __future__ import annotations

import gc
import sys
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from saqshy.context import Context
from saqshy.gc_tuning import GC_YOUNG_THRESHOLD
from saqshy.settings import Settings
from triage_api.main import InFlightLimit, create_app
from triage_api.serving import GIL_SWITCH_INTERVAL_S, tuned_for_serving


@pytest.fixture
def untuned_process() -> Iterator[None]:
    """The test process as it was: the tuning under test is process-wide."""
    interval, threshold = sys.getswitchinterval(), gc.get_threshold()
    sys.setswitchinterval(0.005)
    gc.set_threshold(700, *threshold[1:])
    yield
    sys.setswitchinterval(interval)
    gc.set_threshold(*threshold)
    gc.unfreeze()


def test_a_built_app_leaves_the_process_alone(settings: Settings, ctx: Context, untuned_process: None) -> None:
    with TestClient(create_app(settings, context=ctx)) as client:
        assert client.get("/health").status_code == 200
        assert sys.getswitchinterval() == pytest.approx(0.005)
        assert gc.get_threshold()[0] == 700


def test_a_built_app_bounds_its_requests_in_flight(settings: Settings, ctx: Context) -> None:
    # Not process tuning but the app's own middleware: an app served without ``saqshy serve``
    # (uvicorn's factory, the HTTP load test) must also keep a worker thread free for commits.
    app = create_app(settings, context=ctx)
    limits = [m.kwargs["limit"] for m in app.user_middleware if m.cls is InFlightLimit]
    assert limits == [settings.triage_max_in_flight]


def test_a_served_app_tunes_its_process_at_start(settings: Settings, ctx: Context, untuned_process: None) -> None:
    with TestClient(tuned_for_serving(create_app(settings, context=ctx))) as client:
        assert client.get("/health").status_code == 200
        assert sys.getswitchinterval() == pytest.approx(GIL_SWITCH_INTERVAL_S)
        assert gc.get_threshold()[0] == GC_YOUNG_THRESHOLD
        assert gc.get_freeze_count() > 0
