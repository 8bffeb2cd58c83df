"""Takedown tracking: re-checking a case's URL against a real local HTTP server."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from sqlalchemy.orm import Session, sessionmaker

from saqshy import netpolicy
from saqshy.context import Context
from saqshy.db.models import Case, CaseOutcome, JobStatus, Role, Source, Verdict, utcnow
from saqshy.db.session import make_session_factory
from saqshy.settings import Settings
from tests.triage_api.escalation_factories import make_decided_task, make_item, make_source, make_user
from triage_api.jobs import JOB_SWEEP, JOB_TAKEDOWN_CHECK, enqueue_pending, schedule_recurring, sweep
from triage_api.services import cases, takedown


@pytest.fixture
def site() -> Iterator[dict[str, object]]:
    state: dict[str, object] = {"status": 200, "hits": 0}

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            state["hits"] = int(state["hits"]) + 1  # type: ignore[call-overload]
            state["host"] = self.headers.get("Host")
            self.send_response(int(state["status"]))  # type: ignore[call-overload]
            if state.get("location"):
                self.send_header("Location", str(state["location"]))
            self.send_header("Content-Type", "text/html")
            self.end_headers()
            self.wfile.write(b"<script>alert(1)</script>" * 100)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    state["base"] = f"http://127.0.0.1:{server.server_address[1]}"
    yield state
    server.shutdown()
    server.server_close()


@pytest.fixture
def local(settings: Settings) -> Settings:
    return settings.model_copy(update={"crawler_allowed_networks": "127.0.0.0/8", "takedown_offline_after_failures": 3})


def _case(sessions: sessionmaker[Session], settings: Settings, url: str) -> int:
    with sessions.begin() as session:
        item = make_item(session, settings, url=url, canonical_url=url)
        return cases.open_case(session, make_decided_task(session, item), settings, None).id


def _get(sessions: sessionmaker[Session], case_id: int) -> Case:
    with sessions() as session:
        case = session.get(Case, case_id)
        assert case is not None
        return case


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_probe(local: Settings, settings: Settings, site: dict[str, object]) -> None:
    assert takedown.probe_url(f"{site['base']}/post", local).online is True
    site["status"] = 410
    gone = takedown.probe_url(f"{site['base']}/post", local)
    assert gone.online is False and gone.definitive
    site["status"] = 503
    assert takedown.probe_url(f"{site['base']}/post", local).online is None
    refused = takedown.probe_url(f"http://127.0.0.1:{_closed_port()}/", local)
    assert refused.online is None and "Connect" in refused.result
    # Without loopback in the allowed networks, it is never fetched.
    hits = site["hits"]
    private = takedown.probe_url(f"{site['base']}/post", settings)
    assert private.online is None and "not a public address" in private.result and site["hits"] == hits
    assert takedown.probe_url("ftp://example.test/x", local).online is None


@pytest.fixture
def fake_dns(monkeypatch: pytest.MonkeyPatch) -> dict[str, list[list[str]]]:
    """Names the probe resolves (the OS resolver step only), each a queue of answers."""
    answers: dict[str, list[list[str]]] = {}

    def resolve(host: str) -> list[str]:
        queue = answers[host]
        return queue.pop(0) if len(queue) > 1 else queue[0]

    monkeypatch.setattr(netpolicy, "resolve_host", resolve)
    return answers


@pytest.fixture
def only_127_0_0_1_public(settings: Settings) -> Settings:
    """127.0.0.1 stands for a public address (the only one allowed); the rest of loopback does not."""
    return settings.model_copy(update={"crawler_allowed_networks": "127.0.0.1/32"})


def test_connection_is_pinned_to_the_checked_address(
    only_127_0_0_1_public: Settings, site: dict[str, object], fake_dns: dict[str, list[list[str]]]
) -> None:
    settings = only_127_0_0_1_public
    port = str(site["base"]).rsplit(":", 1)[1]
    # DNS rebinding: the first answer is "public", every later one private. The probe must
    # connect to the address it checked, and send the name in the Host header.
    fake_dns["rebind.test"] = [["127.0.0.1"], ["10.0.0.1"]]
    probe = takedown.probe_url(f"http://rebind.test:{port}/post", settings)
    assert probe.online is True and site["hits"] == 1 and site["host"] == f"rebind.test:{port}"


def test_every_redirect_hop_is_checked(
    only_127_0_0_1_public: Settings, site: dict[str, object], fake_dns: dict[str, list[list[str]]]
) -> None:
    settings = only_127_0_0_1_public
    port = str(site["base"]).rsplit(":", 1)[1]
    fake_dns["public.test"] = [["127.0.0.1"]]
    fake_dns["inside.test"] = [["10.1.2.3"]]
    site.update(status=302, location=f"http://inside.test:{port}/admin")
    probe = takedown.probe_url(f"http://public.test:{port}/post", settings)
    assert probe.online is None and "resolves to 10.1.2.3" in probe.result and site["hits"] == 1
    # A redirect to a literal private address is refused the same way.
    site.update(location="http://169.254.169.254/latest/meta-data/")
    assert "not a public address" in takedown.probe_url(f"http://public.test:{port}/post", settings).result
    # Redirect loops end as a failure, not as a hang.
    site.update(location=f"http://public.test:{port}/again")
    looped = takedown.probe_url(f"http://public.test:{port}/post", settings)
    assert looped.online is None and "redirects" in looped.result


def test_404_is_offline_at_once(sessions: sessionmaker[Session], local: Settings, site: dict[str, object]) -> None:
    case_id = _case(sessions, local, f"{site['base']}/a")
    assert takedown.check_case(sessions, local, case_id) is not None
    case = _get(sessions, case_id)
    assert case.offline_at is None and case.check_count == 1 and case.last_check_result == "HTTP 200"
    # Checked just now: a duplicate job does nothing.
    assert takedown.check_case(sessions, local, case_id) is None
    site["status"] = 404
    with sessions.begin() as session:
        session.get(Case, case_id).last_checked_at = utcnow() - timedelta(days=1)  # type: ignore[union-attr]
    takedown.check_case(sessions, local, case_id)
    case = _get(sessions, case_id)
    assert case.offline_at is not None and case.last_check_result == "HTTP 404"
    with sessions() as session:
        assert case_id not in takedown.due_case_ids(session, local, now=utcnow() + timedelta(days=30))


def test_streak_of_failures_dates_offline_from_the_first(sessions: sessionmaker[Session], local: Settings) -> None:
    case_id = _case(sessions, local, f"http://127.0.0.1:{_closed_port()}/gone")
    start = utcnow()
    with sessions.begin() as session:
        case = session.get(Case, case_id)
        assert case is not None
        for hours in range(3):
            probe = takedown.Probe(None, "ConnectError")
            takedown.record_probe(session, case, probe, local, at=start + timedelta(hours=hours))
            assert (case.offline_at is not None) == (hours == 2)
        assert case.offline_at == start
    # A blip followed by recovery resets the streak.
    other = _case(sessions, local, "https://example.test/blip")
    with sessions.begin() as session:
        case = session.get(Case, other)
        assert case is not None
        takedown.record_probe(session, case, takedown.Probe(None, "timeout"), local)
        takedown.record_probe(session, case, takedown.Probe(True, "HTTP 200"), local)
        assert case.consecutive_failures == 0 and case.first_failed_at is None and case.offline_at is None


def test_sweep_enqueues_due_checks_and_skips_closed_not_illegal(ctx: Context, site: dict[str, object]) -> None:
    ctx.settings = ctx.settings.model_copy(update={"crawler_allowed_networks": "127.0.0.0/8"})
    # Opened through a session factory no context watches: their after-commit evidence jobs are
    # lost, as in a crash between commit and enqueue, which is what the sweep is for.
    unwatched = make_session_factory(ctx.engine)
    due = _case(unwatched, ctx.settings, f"{site['base']}/due")
    dismissed = _case(unwatched, ctx.settings, f"{site['base']}/dismissed")
    with ctx.sessions.begin() as session:
        police = make_user(session, Role.POLICE)
        cases.set_outcome(session, dismissed, police.id, CaseOutcome.NOT_ILLEGAL, ctx.settings)
    site["status"] = 451
    assert enqueue_pending(ctx) == {"evidence": 2, "webhooks": 0, "takedown_checks": 1}
    assert ctx.jobs.wait_idle(20)
    assert _get(ctx.sessions, due).offline_at is not None
    assert _get(ctx.sessions, dismissed).check_count == 0
    assert ctx.jobs.get(f"{JOB_TAKEDOWN_CHECK}:{due}") is not None


def test_takedown_stats(sessions: sessionmaker[Session], local: Settings) -> None:
    ids = [_case(sessions, local, f"https://example.test/s{i}") for i in range(4)]
    with sessions.begin() as session:
        for case_id, hours in zip(ids[:2], (2, 6), strict=True):
            case = session.get(Case, case_id)
            assert case is not None
            case.offline_at = case.created_at + timedelta(hours=hours)
    with sessions() as session:
        stats = takedown.takedown_stats(session)
    assert (stats.cases, stats.offline, stats.share_offline) == (4, 2, 0.5)
    assert stats.median_hours_to_offline == pytest.approx(4.0)


def test_recurring_sweep_is_one_chain(ctx: Context) -> None:
    first = schedule_recurring(ctx)
    assert schedule_recurring(ctx) == first  # several processes starting: still one next sweep
    slot = int(first.rsplit(":", 1)[1])
    info = ctx.jobs.get(first)
    assert info is not None and info.status == JobStatus.QUEUED and info.next_attempt_at is not None
    # A sweep queues the one after it before doing its work.
    with ctx.sessions.begin() as session:
        source = make_source(session)
        make_decided_task(session, make_item(session, ctx.settings, source=source), Verdict.LEGAL)
    sweep(ctx, slot=slot)
    assert ctx.jobs.get(f"{JOB_SWEEP}:{slot + 1}") is not None
    with ctx.sessions() as session:
        refreshed = session.get(Source, source.id)
        assert refreshed is not None and refreshed.reviewed_count == 1
