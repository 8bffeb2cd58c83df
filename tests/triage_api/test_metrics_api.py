"""/metrics after a review round trip, its protection, and the request id in answers, logs and jobs."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families
from pydantic import SecretStr
from sqlalchemy import select

from saqshy.context import build_context
from saqshy.db.models import JobRecord
from saqshy.logs import REQUEST_ID_HEADER, RequestIdFilter, json_formatter
from tests.triage_api.triage_factories import make_task
from triage_api.main import create_app
from triage_api.observability import RequestObservability

LOOPBACK = ("127.0.0.1", 50000)


def _samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def _scrape(client: TestClient) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    response = TestClient(client.app, client=LOOPBACK).get("/metrics")
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain")
    return _samples(response.text)


def _claim_and_vote(client: TestClient, headers: dict[str, str], verdict: str) -> int:
    task_id = int(client.post("/tasks/claim", headers=headers).json()["id"])
    voted = client.post(f"/tasks/{task_id}/votes", json={"verdict": verdict, "category": "drugs"}, headers=headers)
    assert voted.status_code in (200, 201), voted.text
    return task_id


@pytest.fixture
def json_log() -> Iterator[io.StringIO]:
    """Log lines of ``saqshy`` and ``triage_api`` as the JSON format writes them."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(RequestIdFilter())
    handler.setFormatter(json_formatter())
    loggers = [logging.getLogger(name) for name in ("saqshy", "triage_api", "probe")]
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.addHandler(handler)
        logger.setLevel(logging.INFO)
    yield stream
    for logger, level in zip(loggers, levels, strict=True):
        logger.removeHandler(handler)
        logger.setLevel(level)


def test_metrics_after_a_claim_and_vote_round_trip(client, ctx, make_user, auth_headers) -> None:  # type: ignore[no-untyped-def]
    with ctx.sessions.begin() as session:
        make_task(session, category="drugs")
    before = _scrape(client)
    a, b = auth_headers(make_user()), auth_headers(make_user())
    _claim_and_vote(client, a, "illegal")
    _claim_and_vote(client, b, "illegal")
    assert ctx.jobs.wait_idle(30)
    after = _scrape(client)

    def delta(name: str, **labels: str) -> float:
        key = (name, tuple(sorted(labels.items())))
        return after.get(key, 0.0) - before.get(key, 0.0)

    assert delta("saqshy_claims_total") == 2
    assert delta("saqshy_votes_total", verdict="illegal") == 2
    assert delta("saqshy_vote_duration_seconds_count") == 2
    assert delta("saqshy_decisions_total", how="consensus", decision="illegal") == 1
    assert delta("saqshy_cases_opened_total", category="drugs") == 1
    assert delta("saqshy_job_duration_seconds_count", job="cases.build_evidence", outcome="succeeded") == 1
    # The route's template, never the raw path.
    assert delta("saqshy_http_request_duration_seconds_count",
                 method="POST", route="/tasks/{task_id}/votes", status="201") + delta(
        "saqshy_http_request_duration_seconds_count", method="POST", route="/tasks/{task_id}/votes",
        status="200") == 2
    assert not any("/tasks/1/" in str(labels) for _, labels in after)
    # State read from SQL.
    assert after[("saqshy_cases", (("status", "new"),))] >= 1
    assert ("saqshy_queue_tasks", (("category", "drugs"), ("state", "open"))) in before
    for family in ("saqshy_jobs", "saqshy_search_outbox_rows", "saqshy_audit_unchained_oldest_age_seconds",
                   "saqshy_production_model_info"):
        assert any(name == family for name, _ in after), family


def test_metrics_is_loopback_only_without_a_token(client) -> None:  # type: ignore[no-untyped-def]
    assert client.get("/metrics").status_code == 403  # TestClient's peer is "testclient", not loopback
    assert TestClient(client.app, client=LOOPBACK).get("/metrics").status_code == 200
    assert TestClient(client.app, client=("::1", 1)).get("/metrics").status_code == 200
    assert TestClient(client.app, client=("10.0.0.5", 1)).get("/metrics").status_code == 403


def test_metrics_token_is_required_when_set(settings) -> None:  # type: ignore[no-untyped-def]
    settings = settings.model_copy(update={"metrics_token": SecretStr("s3cret-token")})
    context = build_context(settings)
    try:
        with TestClient(create_app(settings, context=context), client=("10.0.0.5", 1)) as remote:
            assert remote.get("/metrics").status_code == 401
            assert remote.get("/metrics", headers={"Authorization": "Bearer wrong"}).status_code == 401
            assert remote.get("/metrics", headers={"Authorization": "Basic s3cret-token"}).status_code == 401
            answer = remote.get("/metrics", headers={"Authorization": "Bearer s3cret-token"})
            assert answer.status_code == 200 and "saqshy_jobs" in answer.text
            # With a token, loopback needs it too.
            assert TestClient(remote.app, client=LOOPBACK).get("/metrics").status_code == 401
    finally:
        context.close()


def test_request_id_in_the_answer_and_in_json_log_lines(json_log) -> None:  # type: ignore[no-untyped-def]
    app = FastAPI()
    app.add_middleware(RequestObservability)

    @app.get("/probe")
    def probe() -> dict[str, str]:
        logging.getLogger("probe").info("inside the request")
        return {}

    client = TestClient(app)
    given = client.get("/probe", headers={REQUEST_ID_HEADER: "abc-123"})
    assert given.headers[REQUEST_ID_HEADER] == "abc-123"
    line = json.loads(json_log.getvalue().splitlines()[-1])
    assert line["request_id"] == "abc-123" and line["message"] == "inside the request"
    assert {"timestamp", "level", "logger"} <= line.keys()
    for insane in ("x" * 65, "semi;colon", "spa ce", ""):
        fresh = client.get("/probe", headers={REQUEST_ID_HEADER: insane}).headers[REQUEST_ID_HEADER]
        assert fresh != insane and len(fresh) == 32
    assert client.get("/probe").headers[REQUEST_ID_HEADER] != client.get("/probe").headers[REQUEST_ID_HEADER]


def test_a_job_enqueued_in_a_request_logs_its_request_id(client, ctx, make_user, auth_headers, json_log) -> None:  # type: ignore[no-untyped-def]
    with ctx.sessions.begin() as session:
        make_task(session, category="drugs")
    a, b = auth_headers(make_user()), auth_headers(make_user())
    _claim_and_vote(client, a, "illegal")
    task_id = int(client.post("/tasks/claim", headers=b).json()["id"])
    voted = client.post(f"/tasks/{task_id}/votes", json={"verdict": "illegal", "category": "drugs"},
                        headers={**b, REQUEST_ID_HEADER: "deciding-vote-1"})
    assert voted.headers[REQUEST_ID_HEADER] == "deciding-vote-1"
    assert ctx.jobs.wait_idle(30)
    with ctx.sessions.begin() as session:
        job = session.scalars(select(JobRecord).where(JobRecord.name == "cases.build_evidence")).one()
        assert job.request_id == "deciding-vote-1"
    job_lines = [json.loads(line) for line in json_log.getvalue().splitlines()
                 if "cases.build_evidence" in line]
    assert job_lines and all(line["request_id"] == "deciding-vote-1" for line in job_lines)
