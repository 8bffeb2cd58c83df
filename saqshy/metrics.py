"""Prometheus metrics: event counters kept in each process, and state read from SQL at scrape time.

Two kinds, so that every number is right however many processes serve the API and run jobs:

- **Events** (requests, claims, votes, decisions, cases opened, jobs, crawls, texts scored) are
  counters and histograms incremented where each event happens. With ``PROMETHEUS_MULTIPROC_DIR``
  set (``saqshy serve --workers N`` sets it; RQ workers on the same host share the folder)
  prometheus_client keeps them in files there and a scrape sums every process's; otherwise they
  live in this process. Only counters and histograms, so a process that exits leaves nothing stale.
- **State** (queue depth, jobs by state, search-outbox and audit lag, items per source, cases by
  status, the production model, the scoring rate) lives in SQL: ``SqlCollector`` reads it with one
  query each when scraped, so it is the same whichever process answers, and costs nothing per request.

Events that belong to a transaction (a vote, a claim, a case) are counted ``after_commit``: a
rolled-back vote is not counted.
"""

from __future__ import annotations

import logging
import os
import shutil
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import timedelta
from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING, Any

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest, multiprocess, start_http_server
from prometheus_client.core import GaugeMetricFamily, InfoMetricFamily, Metric
from prometheus_client.registry import REGISTRY, Collector
from sqlalchemy import event, func, select
from sqlalchemy.orm import InstrumentedAttribute, Session

from saqshy.db.models import (
    AuditEntry,
    Case,
    CaseStatus,
    ContentItem,
    JobRecord,
    JobStatus,
    Score,
    SearchOutbox,
    Source,
)
from saqshy.db.session import READ_ONLY, session_scope
from saqshy.timeutil import as_utc, utcnow

if TYPE_CHECKING:
    from wsgiref.simple_server import WSGIServer

    from crawlers.runner import CrawlSummary
    from saqshy.context import Context
    from saqshy.settings import Settings

logger = logging.getLogger(__name__)

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
# Scoring rate: scores written in this window, per model version.
SCORING_WINDOW = timedelta(minutes=1)
UNMATCHED_ROUTE = "unmatched"

HTTP_REQUESTS = Histogram(
    "saqshy_http_request_duration_seconds", "HTTP requests by route template and status",
    ["method", "route", "status"],
)
CLAIMS = Counter("saqshy_claims", "Review tasks leased to a reviewer")
VOTES = Counter("saqshy_votes", "Votes cast by reviewers", ["verdict"])
VOTE_SECONDS = Histogram(
    "saqshy_vote_duration_seconds", "Time to record a vote and apply the consensus rule",
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5),
)
DECISIONS = Counter("saqshy_decisions", "Tasks decided, by consensus or by a moderator", ["how", "decision"])
TO_MODERATOR = Counter("saqshy_escalations_to_moderator", "Tasks sent to a moderator without consensus")
CASES_OPENED = Counter("saqshy_cases_opened", "Police cases opened from illegal decisions", ["category"])
JOB_SECONDS = Histogram(
    "saqshy_job_duration_seconds", "Jobs run, by job name and outcome", ["job", "outcome"],
    buckets=(0.01, 0.05, 0.1, 0.5, 1.0, 5.0, 15.0, 60.0, 300.0, 1800.0, 7200.0),
)
CRAWL_PAGES = Counter("saqshy_crawl_pages", "Pages fetched by crawls", ["source"])
CRAWL_ITEMS = Counter("saqshy_crawl_items", "Items stored by crawls", ["source", "kind"])
CRAWL_ERRORS = Counter("saqshy_crawl_errors", "Errors met by crawls", ["source"])
TEXTS_SCORED = Counter("saqshy_texts_scored", "Texts scored by the classifier", ["model_version"])

CRAWL_ITEM_KINDS = ("new", "changed", "unchanged", "invalid")
_AFTER_COMMIT = "saqshy.metrics.after_commit"


# --- events -------------------------------------------------------------------------------------


def after_commit(session: Session, action: Callable[[], object]) -> None:
    """Run ``action`` (an increment) once ``session``'s transaction commits; never if it rolls back."""
    session.info.setdefault(_AFTER_COMMIT, []).append(action)


def _run_after_commit(session: Session) -> None:
    for action in session.info.pop(_AFTER_COMMIT, ()):
        try:
            action()
        except Exception:
            # The transaction is committed: a failing metric (a full disk in multiprocess mode) must not undo that.
            logger.exception("a metric could not be counted")


def _discard_after_commit(session: Session, *_args: Any) -> None:
    session.info.pop(_AFTER_COMMIT, None)


event.listen(Session, "after_commit", _run_after_commit)
event.listen(Session, "after_rollback", _discard_after_commit)


def count_vote(session: Session, verdict: str, seconds: float) -> None:
    def record() -> None:
        VOTES.labels(verdict=verdict).inc()
        VOTE_SECONDS.observe(seconds)

    after_commit(session, record)


def count_crawl(summary: CrawlSummary) -> None:
    """Add a finished crawl's counters (``crawlers.runner.CrawlSummary``), per source."""
    for source in summary.sources:
        CRAWL_PAGES.labels(source=source.name).inc(source.pages)
        CRAWL_ERRORS.labels(source=source.name).inc(source.errors)
        for kind in CRAWL_ITEM_KINDS:
            CRAWL_ITEMS.labels(source=source.name, kind=kind).inc(source.counters.get(f"items/{kind}", 0))


@contextmanager
def timed_job(job: str) -> Iterator[None]:
    """Observe a job's run time under its name and outcome (succeeded, error, or stopped)."""
    started = time.perf_counter()
    outcome = "stopped"
    try:
        yield
        outcome = "succeeded"
    except Exception:
        outcome = "error"
        raise
    finally:
        JOB_SECONDS.labels(job=job, outcome=outcome).observe(time.perf_counter() - started)


# --- processes ----------------------------------------------------------------------------------


def multiproc_dir() -> Path | None:
    value = os.environ.get(MULTIPROC_ENV, "").strip()
    return Path(value) if value else None


def prepare_multiproc_dir(var_dir: Path) -> Path:
    """For ``saqshy serve --workers N``: a fresh shared folder under ``var_dir``, unless one is set.

    Must run before any worker process starts (prometheus_client reads the variable at import).
    A folder given by the operator is theirs to empty before a start (RQ workers may share it).
    """
    given = multiproc_dir()
    if given is not None:
        given.mkdir(parents=True, exist_ok=True)
        return given
    folder = var_dir / "prometheus-multiproc"
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    os.environ[MULTIPROC_ENV] = str(folder)
    return folder


def event_registry() -> CollectorRegistry:
    """Every process's events (the shared folder) in multiprocess mode, else this process's."""
    folder = multiproc_dir()
    if folder is None:
        return REGISTRY
    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry, path=str(folder))
    return registry


def start_worker_server(port: int, addr: str = "0.0.0.0") -> WSGIServer:
    """``/metrics`` of a job worker on its own port (a worker on another host than the API).

    Only its event counters, without a token (prometheus_client's server has none): firewall the port.
    """
    server, _thread = start_http_server(port, addr=addr, registry=event_registry())
    logger.info("worker metrics on port %d", port)
    return server


# --- state, read from SQL at scrape time ------------------------------------------------------


class _Forward(Collector):
    def __init__(self, registry: CollectorRegistry) -> None:
        self.registry = registry

    def collect(self) -> Iterator[Metric]:
        yield from self.registry.collect()


class SqlCollector(Collector):
    """State that lives in SQL, one query each, read when scraped."""

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx

    def collect(self) -> Iterator[Metric]:
        with session_scope(self.ctx.sessions) as session:
            session.connection(execution_options=READ_ONLY)
            yield _queue_depth(session)
            yield _rows_by(session, GaugeMetricFamily("saqshy_jobs", "Job rows by state", labels=["state"]),
                           JobRecord.status, JobStatus)
            yield from _outbox_lag(session)
            yield from _audit_lag(session)
            yield _items_per_source(session)
            yield _rows_by(session, GaugeMetricFamily("saqshy_cases", "Police cases by status", labels=["status"]),
                           Case.status, CaseStatus)
            yield _scoring_rate(session)
        yield _production_model(self.ctx.settings)


def _age_seconds(oldest: Any) -> float:
    if oldest is None:
        return 0.0
    return max(0.0, (utcnow() - (as_utc(oldest) or oldest)).total_seconds())


def _queue_depth(session: Session) -> Metric:
    from triage_api.services.stats import queue_depth

    family = GaugeMetricFamily("saqshy_queue_tasks", "Review tasks waiting, by category and state",
                               labels=["category", "state"])
    for depth in queue_depth(session):
        family.add_metric([depth.category, "open"], depth.open)
        family.add_metric([depth.category, "needs_moderator"], depth.needs_moderator)
    return family


def _rows_by(
    session: Session, family: GaugeMetricFamily, column: InstrumentedAttribute[Any], members: type[Enum]
) -> Metric:
    """``family`` with one sample per member of ``members``: the rows whose ``column`` holds it, 0 when none."""
    found: dict[Any, int] = dict(session.execute(select(column, func.count()).group_by(column)).all())
    for member in members:
        family.add_metric([member.value], found.get(member, 0))
    return family


def _outbox_lag(session: Session) -> Iterator[Metric]:
    rows, oldest = session.execute(select(func.count(), func.min(SearchOutbox.created_at))).one()
    yield GaugeMetricFamily("saqshy_search_outbox_rows", "Search index changes not applied yet", value=rows)
    yield GaugeMetricFamily("saqshy_search_outbox_oldest_age_seconds",
                            "Age of the oldest search index change not applied yet", value=_age_seconds(oldest))


def _audit_lag(session: Session) -> Iterator[Metric]:
    rows, oldest = session.execute(
        select(func.count(), func.min(AuditEntry.at)).where(AuditEntry.seq.is_(None))).one()
    yield GaugeMetricFamily("saqshy_audit_unchained", "Audit entries the sequencer has not chained yet", value=rows)
    yield GaugeMetricFamily("saqshy_audit_unchained_oldest_age_seconds",
                            "Age of the oldest audit entry not chained yet", value=_age_seconds(oldest))


def _items_per_source(session: Session) -> Metric:
    family = GaugeMetricFamily("saqshy_items", "Content items stored, by source", labels=["source"])
    rows = session.execute(
        select(Source.name, func.count(ContentItem.id))
        .select_from(ContentItem).outerjoin(Source, Source.id == ContentItem.source_id)
        .group_by(Source.name)
    ).all()
    for name, count in rows:
        family.add_metric([name or ""], count)
    return family


def _scoring_rate(session: Session) -> Metric:
    family = GaugeMetricFamily("saqshy_scores_last_minute", "Scores written in the last minute, by model version",
                               labels=["model_version"])
    since = utcnow() - SCORING_WINDOW
    rows = session.execute(
        select(Score.model_version, func.count()).where(Score.created_at >= since).group_by(Score.model_version)
    ).all()
    for version, count in rows:
        family.add_metric([version], count)
    return family


def _production_model(settings: Settings) -> Metric:
    from classifier.registry import Registry

    version = Registry(settings.models_dir).production()
    return InfoMetricFamily("saqshy_production_model", "The classifier version scoring new items",
                            value={"version": version or ""})


def render(ctx: Context) -> bytes:
    """The exposition text of a scrape: every process's events, then the SQL state."""
    registry = CollectorRegistry()
    registry.register(_Forward(event_registry()))
    registry.register(SqlCollector(ctx))
    return generate_latest(registry)
