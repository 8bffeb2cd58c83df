"""The police endpoint goes down for real: first nothing listens on its port (connection refused),
then it answers HTTP 500, then it is back. The case is delivered once, with back-off between
attempts, and the receiver (which counts deliveries by idempotency key) never sees a duplicate.
"""

from __future__ import annotations

import itertools
import socket
import threading
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from saqshy.context import Context, build_context
from saqshy.db.models import WebhookDelivery, WebhookStatus
from saqshy.jobs.base import backoff_seconds
from saqshy.settings import Settings
from tests.triage_api.escalation_factories import (
    POLICE_SECRET,
    make_decided_task,
    make_item,
    make_user,
    police_webhook_settings,
)
from triage_api.services import cases, webhooks

pytestmark = [pytest.mark.integration, pytest.mark.slow]

SECRET = POLICE_SECRET
REFUSED_ATTEMPTS = 2
FAILING_ANSWERS = [500, 500]
WAIT = 45.0


@dataclass
class PoliceReceiver:
    """A police endpoint that opens one case per idempotency key and answers 500 while told to."""

    port: int
    failing: list[int]
    server: ThreadingHTTPServer | None = None
    lock: threading.Lock = field(default_factory=threading.Lock)
    requests: list[tuple[float, str, bytes, int]] = field(default_factory=list)  # (at, key, body, answer)
    opened: Counter[str] = field(default_factory=Counter)  # cases opened downstream, per key

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/cases"

    def start(self) -> None:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                key = self.headers["Idempotency-Key"]
                assert webhooks.verify_signature(SECRET, self.headers["X-Saqshy-Signature"], body)
                with receiver.lock:
                    answer = receiver.failing.pop(0) if receiver.failing else 200
                    if answer == 200:
                        receiver.opened[key] += 1  # a real receiver would drop a repeated key: counted here
                    receiver.requests.append((time.monotonic(), key, body, answer))
                self.send_response(answer)
                self.end_headers()
                self.wfile.write(b"{}")

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def police() -> Iterator[PoliceReceiver]:
    receiver = PoliceReceiver(port=_free_port(), failing=list(FAILING_ANSWERS))  # not listening yet
    yield receiver
    receiver.stop()


@pytest.fixture
def hook_ctx(settings: Settings, police: PoliceReceiver) -> Iterator[Context]:
    # Measurable back-off: 0.2, 0.4, 0.8, then 1 s between attempts.
    configured = police_webhook_settings(settings, police.url, attempts=8, job_max_attempts=8,
                                         job_backoff_seconds=0.2, job_backoff_max_seconds=1.0)
    context = build_context(configured)
    yield context
    context.close()


def _delivery(ctx: Context, case_id: int) -> WebhookDelivery:
    with ctx.sessions() as session:
        rows, _ = webhooks.list_deliveries(session, case_id=case_id)
        return rows[0]


def _wait_for_attempts(ctx: Context, case_id: int, attempts: int) -> WebhookDelivery:
    deadline = time.monotonic() + WAIT
    while True:
        with ctx.sessions() as session:
            rows, _ = webhooks.list_deliveries(session, case_id=case_id)
        if rows and rows[0].attempts >= attempts:
            return rows[0]
        assert time.monotonic() < deadline, rows
        time.sleep(0.02)


def test_refused_then_failing_then_back_is_delivered_once(hook_ctx: Context, police: PoliceReceiver) -> None:
    with hook_ctx.sessions.begin() as session:
        task = make_decided_task(session, make_item(session, hook_ctx.settings), voters=[make_user(session)])
        case_id = cases.open_case(session, task, hook_ctx.settings, None).id

    # Nothing listens on the endpoint's port: the attempts are refused, and retried.
    refused = _wait_for_attempts(hook_ctx, case_id, REFUSED_ATTEMPTS)
    assert refused.status == WebhookStatus.PENDING
    assert refused.last_status_code is None and "ConnectError" in (refused.last_error or "")

    # The endpoint comes up, answers 500 twice, then accepts.
    police.start()
    assert hook_ctx.jobs.wait_idle(WAIT)
    delivery = _delivery(hook_ctx, case_id)
    assert delivery.status == WebhookStatus.DELIVERED, delivery.last_error
    assert delivery.attempts >= REFUSED_ATTEMPTS + len(FAILING_ANSWERS) + 1
    key = webhooks.idempotency_key(case_id)
    assert [answer for _, _, _, answer in police.requests] == [*FAILING_ANSWERS, 200]
    assert {k for _, k, _, _ in police.requests} == {key}
    assert len({body for _, _, body, _ in police.requests}) == 1  # every retry sends the same bytes
    assert police.opened == {key: 1}

    # Back-off: each retry waited at least its due delay after the attempt before.
    times = [at for at, _, _, _ in police.requests]
    first_answered = delivery.attempts - len(police.requests) + 1
    for n, (earlier, later) in enumerate(itertools.pairwise(times), start=first_answered):
        assert later - earlier >= backoff_seconds(hook_ctx.settings, n) * 0.9

    # Delivered is final: the job run again (a late duplicate, a requeue) sends nothing.
    hook_ctx.jobs.enqueue(
        webhooks.JOB_DELIVER, {"delivery_id": delivery.id}, key=webhooks.delivery_job_key(delivery.id), force=True
    )
    assert hook_ctx.jobs.wait_idle(WAIT)
    assert len(police.requests) == len(FAILING_ANSWERS) + 1 and police.opened == {key: 1}
