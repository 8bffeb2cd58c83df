"""Webhook delivery of new cases to a police endpoint: a real HTTP receiver on loopback."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr

from saqshy.context import Context, build_context
from saqshy.db.models import Role, WebhookDelivery, WebhookStatus
from saqshy.settings import Settings
from tests.triage_api.escalation_factories import (
    POLICE_SECRET,
    make_decided_task,
    make_item,
    make_user,
    police_webhook_settings,
)
from triage_api.jobs import build_evidence
from triage_api.main import create_app
from triage_api.services import auth, cases, users, webhooks

SECRET = POLICE_SECRET


@dataclass
class Receiver:
    url: str
    statuses: list[int]
    requests: list[tuple[dict[str, str], bytes]] = field(default_factory=list)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    state = Receiver(url="", statuses=[])

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            state.requests.append(({k.lower(): v for k, v in self.headers.items()}, body))
            code = state.statuses.pop(0) if state.statuses else 200
            self.send_response(code)
            self.end_headers()
            self.wfile.write(b"{}")

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    state.url = f"http://127.0.0.1:{server.server_address[1]}/cases"
    yield state
    server.shutdown()
    server.server_close()


@pytest.fixture
def hook_ctx(settings: Settings, receiver: Receiver) -> Iterator[Context]:
    context = build_context(police_webhook_settings(settings, receiver.url, attempts=3))
    yield context
    context.close()


def _open_case(ctx: Context) -> int:
    with ctx.sessions.begin() as session:
        task = make_decided_task(session, make_item(session, ctx.settings), voters=[make_user(session)])
        return cases.open_case(session, task, ctx.settings, None).id


def _delivery(ctx: Context, case_id: int) -> WebhookDelivery:
    with ctx.sessions() as session:
        rows, _ = webhooks.list_deliveries(session, case_id=case_id)
        return rows[0]


def test_delivered_after_commit_signed_with_idempotency_key(hook_ctx: Context, receiver: Receiver) -> None:
    receiver.statuses = [503]  # the first attempt fails, the retry succeeds
    case_id = _open_case(hook_ctx)
    assert hook_ctx.jobs.wait_idle(20)
    delivery = _delivery(hook_ctx, case_id)
    assert delivery.status == WebhookStatus.DELIVERED and delivery.attempts == 2
    assert len(receiver.requests) == 2
    (first_headers, first_body), (second_headers, second_body) = receiver.requests
    # A retry sends the same bytes under the same key: the receiver can drop the duplicate.
    assert first_body == second_body
    assert first_headers["idempotency-key"] == second_headers["idempotency-key"] == f"saqshy-case-{case_id}"
    assert webhooks.verify_signature(SECRET, second_headers["x-saqshy-signature"], second_body)
    assert not webhooks.verify_signature("wrong", second_headers["x-saqshy-signature"], second_body)
    assert not webhooks.verify_signature(SECRET, second_headers["x-saqshy-signature"], second_body + b" ")
    payload = json.loads(second_body)
    assert payload["case"]["id"] == case_id and payload["event"] == "case.opened"
    assert len(payload["case"]["evidence_sha256"]) == 64


def test_keeps_failing_then_visible_and_retryable(hook_ctx: Context, receiver: Receiver) -> None:
    receiver.statuses = [500, 500, 500]
    case_id = _open_case(hook_ctx)
    assert hook_ctx.jobs.wait_idle(20)
    delivery = _delivery(hook_ctx, case_id)
    assert delivery.status == WebhookStatus.FAILED and delivery.attempts == 3
    assert delivery.last_status_code == 500 and "HTTP 500" in (delivery.last_error or "")
    assert any(job.name == webhooks.JOB_DELIVER for job in hook_ctx.jobs.failed())

    with TestClient(create_app(hook_ctx.settings, context=hook_ctx), base_url="https://testserver") as client:
        with hook_ctx.sessions.begin() as session:
            admin = users.create_user(
                session,
                hook_ctx.settings,
                email="admin@example.test",
                password="correct horse battery staple",
                role=Role.ADMIN,
                display_name="Admin",
            )
            token = auth.issue_token(session, hook_ctx.settings, admin).token
        headers = {"Authorization": f"Bearer {token}"}
        failed = client.get("/cases/webhook-deliveries?status=failed", headers=headers).json()
        assert failed["total"] == 1 and failed["items"][0]["case_id"] == case_id
        retried = client.post(f"/cases/webhook-deliveries/{delivery.id}/retry", headers=headers)
        assert retried.status_code == 200, retried.text
        assert hook_ctx.jobs.wait_idle(20)
        assert client.post(f"/cases/webhook-deliveries/{delivery.id}/retry", headers=headers).status_code == 409
    assert _delivery(hook_ctx, case_id).status == WebhookStatus.DELIVERED
    assert len(receiver.requests) == 4


def test_client_error_is_permanent(hook_ctx: Context, receiver: Receiver) -> None:
    receiver.statuses = [401]
    case_id = _open_case(hook_ctx)
    assert hook_ctx.jobs.wait_idle(20)
    delivery = _delivery(hook_ctx, case_id)
    assert delivery.status == WebhookStatus.FAILED and delivery.attempts == 1


def test_no_secret_no_unsigned_request(settings: Settings, receiver: Receiver) -> None:
    configured = settings.model_copy(
        update={"police_webhook_url": receiver.url, "crawler_allowed_networks": "127.0.0.0/8"}
    )
    ctx = build_context(configured)
    try:
        case_id = _open_case(ctx)
        build_evidence(ctx, case_id)  # what the job does after commit: seal, record, enqueue delivery
        assert ctx.jobs.wait_idle(20)
        delivery = _delivery(ctx, case_id)
        assert delivery.status == WebhookStatus.FAILED and "SECRET is not set" in (delivery.last_error or "")
        assert receiver.requests == []
    finally:
        ctx.close()


def test_no_endpoint_no_delivery(ctx: Context) -> None:
    case_id = _open_case(ctx)
    build_evidence(ctx, case_id)
    with ctx.sessions() as session:
        assert webhooks.list_deliveries(session, case_id=case_id) == ([], 0)


def test_private_endpoint_refused_unless_allowed(settings: Settings, receiver: Receiver) -> None:
    configured = settings.model_copy(
        update={"police_webhook_url": receiver.url, "police_webhook_secret": SecretStr(SECRET)}
    )
    ctx = build_context(configured)
    try:
        case_id = _open_case(ctx)
        build_evidence(ctx, case_id)
        assert ctx.jobs.wait_idle(20)
        delivery = _delivery(ctx, case_id)
        # A configuration problem: failed at once, not retried, and nothing sent.
        assert delivery.status == WebhookStatus.FAILED and delivery.attempts == 1
        assert "127.0.0.1 is not a public address" in (delivery.last_error or "")
        assert receiver.requests == []
    finally:
        ctx.close()


def test_plain_http_endpoint_warns_once(
    hook_ctx: Context, receiver: Receiver, caplog: pytest.LogCaptureFixture
) -> None:
    receiver.statuses = [503]
    webhooks._warned_plain_http.clear()
    with caplog.at_level("WARNING", logger=webhooks.__name__):
        case_id = _open_case(hook_ctx)
        assert hook_ctx.jobs.wait_idle(20)
    assert _delivery(hook_ctx, case_id).status == WebhookStatus.DELIVERED
    warnings = [r.getMessage() for r in caplog.records if "plain http" in r.getMessage()]
    assert len(warnings) == 1 and "use an https URL" in warnings[0]
    # The request went to the checked address, under the endpoint's own name.
    assert receiver.requests[-1][0]["host"] == receiver.url.split("/")[2]
