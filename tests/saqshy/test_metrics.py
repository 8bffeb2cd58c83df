"""saqshy.metrics: multiprocess aggregation, counting after commit, the SQL state, the serve folder."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from prometheus_client import CollectorRegistry
from prometheus_client.parser import text_string_to_metric_families

from saqshy import metrics
from saqshy.db.models import AuditEntry, JobStatus, SearchOutbox, utcnow
from saqshy.logs import logging_config
from tests.triage_api.triage_factories import make_item, make_score, make_task

ROOT = Path(__file__).resolve().parents[2]
INCREMENT = "from saqshy import metrics; metrics.CLAIMS.inc(); metrics.VOTES.labels(verdict='legal').inc(2)"


def _sample(registry: CollectorRegistry, name: str, **labels: str) -> float | None:
    return registry.get_sample_value(name, labels)


def test_multiprocess_mode_sums_every_process(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    env = {**os.environ, metrics.MULTIPROC_ENV: str(tmp_path), "PYTHONPATH": str(ROOT)}
    for _ in range(2):
        subprocess.run([sys.executable, "-c", INCREMENT], env=env, check=True, timeout=120)
    monkeypatch.setenv(metrics.MULTIPROC_ENV, str(tmp_path))
    registry = metrics.event_registry()
    assert _sample(registry, "saqshy_claims_total") == 2
    assert _sample(registry, "saqshy_votes_total", verdict="legal") == 4


def test_without_the_folder_events_stay_in_this_process(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(metrics.MULTIPROC_ENV, raising=False)
    registry = metrics.event_registry()
    before = _sample(registry, "saqshy_escalations_to_moderator_total") or 0
    metrics.TO_MODERATOR.inc()
    assert _sample(registry, "saqshy_escalations_to_moderator_total") == before + 1


def test_a_worker_serves_its_own_metrics(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(metrics.MULTIPROC_ENV, "")
    server = metrics.start_worker_server(0, addr="127.0.0.1")
    try:
        answer = httpx.get(f"http://127.0.0.1:{server.server_port}/metrics", timeout=10)
        assert answer.status_code == 200 and "saqshy_claims_total" in answer.text
    finally:
        server.shutdown()
        server.server_close()


def test_serve_gets_a_fresh_folder_unless_one_is_given(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(metrics.MULTIPROC_ENV, "")  # blank is unset; the test's end restores the variable
    stale = tmp_path / "prometheus-multiproc" / "counter_123.db"
    stale.parent.mkdir()
    stale.write_bytes(b"old")
    folder = metrics.prepare_multiproc_dir(tmp_path)
    assert folder.is_dir() and not stale.exists()
    assert os.environ[metrics.MULTIPROC_ENV] == str(folder)
    given = tmp_path / "operator"
    monkeypatch.setenv(metrics.MULTIPROC_ENV, str(given))
    assert metrics.prepare_multiproc_dir(tmp_path) == given and given.is_dir()


def test_events_count_only_once_committed(ctx) -> None:  # type: ignore[no-untyped-def]
    counted = []
    with pytest.raises(RuntimeError), ctx.sessions.begin() as session:
        metrics.after_commit(session, lambda: counted.append("rolled back"))
        raise RuntimeError
    with ctx.sessions.begin() as session:
        metrics.after_commit(session, lambda: counted.append("committed"))
        assert counted == []
    assert counted == ["committed"]


def test_a_crawl_job_counts_pages_items_and_errors_per_source(ctx, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    from crawlers import jobs, runner

    counters = {"pages": 5, "errors": 1, "items/new": 3, "items/unchanged": 1}
    summary = runner.CrawlSummary(sources=[runner.SourceSummary("metrics-probe", counters, "finished", 1.0)])
    monkeypatch.setattr(runner, "run_crawl", lambda settings, sources: summary)

    def value(name: str, **labels: str) -> float:
        return metrics.REGISTRY.get_sample_value(name, {"source": "metrics-probe", **labels}) or 0.0

    before = [value("saqshy_crawl_pages_total"), value("saqshy_crawl_items_total", kind="new")]
    jobs.crawl_due(ctx)
    assert [value("saqshy_crawl_pages_total"), value("saqshy_crawl_items_total", kind="new")] == [
        before[0] + 5, before[1] + 3]
    assert value("saqshy_crawl_errors_total") >= 1


def test_job_durations_by_name_and_outcome() -> None:
    def count(outcome: str) -> float:
        return metrics.REGISTRY.get_sample_value(
            "saqshy_job_duration_seconds_count", {"job": "probe", "outcome": outcome}) or 0.0

    before = count("succeeded"), count("error")
    with metrics.timed_job("probe"):
        pass
    with pytest.raises(ValueError), metrics.timed_job("probe"):
        raise ValueError
    assert (count("succeeded"), count("error")) == (before[0] + 1, before[1] + 1)


def test_state_is_read_from_sql_when_scraped(ctx) -> None:  # type: ignore[no-untyped-def]
    (ctx.settings.models_dir).mkdir(parents=True, exist_ok=True)
    (ctx.settings.models_dir / "PRODUCTION").write_text("v7\n", encoding="utf-8")
    with ctx.sessions.begin() as session:
        make_task(session, category="drugs")
        make_task(session, category="drugs")
        make_score(session, make_item(session), {"drugs": 0.9}, model_version="v7")
        old = make_score(session, make_item(session), {"drugs": 0.9}, model_version="v6")
        old.created_at = utcnow() - timedelta(minutes=5)
        session.add(SearchOutbox(item_id=1, created_at=utcnow() - timedelta(seconds=90)))
        session.add(AuditEntry(action="probe", entity_type="probe", at=utcnow() - timedelta(seconds=30)))
    families = {family.name: family for family in
                text_string_to_metric_families(metrics.render(ctx).decode())}

    def value(name: str, **labels: str) -> float:
        return next(s.value for s in families[name].samples if s.name == name and s.labels == labels)

    assert value("saqshy_queue_tasks", category="drugs", state="open") == 2
    assert value("saqshy_queue_tasks", category="drugs", state="needs_moderator") == 0
    assert value("saqshy_scores_last_minute", model_version="v7") == 1
    assert not [s for s in families["saqshy_scores_last_minute"].samples if s.labels["model_version"] == "v6"]
    assert value("saqshy_search_outbox_rows") == 1
    assert value("saqshy_search_outbox_oldest_age_seconds") >= 89
    assert value("saqshy_audit_unchained") >= 1
    assert value("saqshy_audit_unchained_oldest_age_seconds") >= 29
    assert value("saqshy_items", source="") == 4
    assert value("saqshy_cases", status="new") == 0
    assert value("saqshy_jobs", state=JobStatus.FAILED.value) == 0
    assert value("saqshy_production_model_info", version="v7") == 1


def test_both_log_formats_configure() -> None:
    import logging.config

    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    try:
        for log_format in ("json", "text"):
            logging.config.dictConfig(logging_config(log_format))  # type: ignore[arg-type]
            assert root.handlers[0].filters and root.handlers[0].formatter is not None
    finally:
        root.handlers[:] = handlers
        root.setLevel(level)
