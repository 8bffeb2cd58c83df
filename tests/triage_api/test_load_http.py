"""50 volunteers claiming and voting at once over real HTTP on loopback, against PostgreSQL."""

from __future__ import annotations

import random
import socket
import threading
import time

import httpx
import pytest
import uvicorn

from saqshy.context import Context
from saqshy.db.models import Role
from tests.triage_api.concurrency import check_invariants, run_together
from tests.triage_api.triage_factories import make_tasks
from triage_api.main import create_app

pytestmark = [pytest.mark.integration, pytest.mark.slow]

VOLUNTEERS = 50
TASKS = 120


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.mark.parametrize("sql_engine", ["postgresql"], indirect=True)
def test_fifty_volunteers_over_http(any_ctx: Context, make_user, auth_headers) -> None:  # type: ignore[no-untyped-def]
    make_tasks(any_ctx.sessions, TASKS)
    headers = [auth_headers(make_user(Role.VOLUNTEER)) for _ in range(VOLUNTEERS)]
    port = _free_port()
    server = uvicorn.Server(uvicorn.Config(create_app(any_ctx.settings, context=any_ctx), host="127.0.0.1",
                                           port=port, log_level="warning", limit_concurrency=200))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert time.monotonic() < deadline, "server did not start"
        time.sleep(0.05)
    accepted = [0] * VOLUNTEERS
    failures: list[str] = []
    start = threading.Barrier(VOLUNTEERS)

    def volunteer(index: int) -> None:
        rng = random.Random(index)
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", headers=headers[index], timeout=60) as http:
            start.wait()
            while True:
                claimed = http.post("/tasks/claim")
                if claimed.status_code == 204:
                    return
                if claimed.status_code != 200:
                    failures.append(f"claim: {claimed.status_code} {claimed.text[:200]}")
                    return
                task_id = claimed.json()["id"]
                verdict = rng.choices(["legal", "illegal", "unsure"], [7, 2, 1])[0]
                body = {"verdict": verdict, "category": "drugs"} if verdict == "illegal" else {"verdict": verdict}
                voted = http.post(f"/tasks/{task_id}/votes", json=body)
                if voted.status_code != 201:
                    failures.append(f"vote on {task_id}: {voted.status_code} {voted.text[:200]}")
                    return
                accepted[index] += 1

    try:
        run_together(volunteer, VOLUNTEERS, timeout=400)
        assert not failures, failures[:5]
        # A volunteer stops at the first 204, possibly while others still hold leases: finish the
        # remaining votes one volunteer at a time.
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=60) as http:
            progress = True
            while progress:
                progress = False
                for index in range(VOLUNTEERS):
                    claimed = http.post("/tasks/claim", headers=headers[index])
                    if claimed.status_code == 204:
                        continue
                    voted = http.post(f"/tasks/{claimed.json()['id']}/votes", json={"verdict": "legal"},
                                      headers=headers[index])
                    assert voted.status_code == 201, voted.text
                    accepted[index] += 1
                    progress = True
    finally:
        server.should_exit = True
        thread.join(timeout=30)
    with any_ctx.sessions() as session:
        counts = check_invariants(session, any_ctx.settings, sum(accepted))
    assert counts["open"] == 0, counts
    assert sum(accepted) >= TASKS * any_ctx.settings.triage_votes_needed * 0.8
