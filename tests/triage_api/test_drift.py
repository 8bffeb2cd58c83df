"""Score drift per source and per language: the aggregate query, PSI against the held-out reference,
the alert, a version without a reference, and the API ML staff read it through."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient

from classifier.drift import BINS, histogram, psi, reference_job_key
from saqshy.context import Context
from saqshy.db.models import JobStatus, Role, Source, SourceKind, User, utcnow
from saqshy.db.session import session_scope
from tests.triage_api.triage_factories import make_drift_model, make_scored_items
from triage_api.services.drift import drift_report

VERSION = "20261201-000000-fast-0a0b0c0d"
UNIFORM = [10] * BINS
REFERENCE = {"bins": BINS, "histogram": UNIFORM, "count": 100, "languages": {"kk": UNIFORM},
             "source": "test_split"}
SPREAD = [i / BINS + 0.05 for i in range(BINS)]


def _source(ctx: Context, name: str) -> int:
    with session_scope(ctx.sessions) as session:
        source = Source(name=name, url=f"https://{name}/", kind=SourceKind.FORUM)
        session.add(source)
        session.flush()
        return source.id


def test_daily_histograms_per_source_and_language_of_the_production_version(any_ctx: Context) -> None:
    """Runs on SQLite and PostgreSQL: the SQL bins are the numpy bins, days are UTC days of scoring,
    other versions' scores and scores before the window are left out."""
    make_drift_model(any_ctx.settings.models_dir, VERSION, REFERENCE)
    forum, channel = _source(any_ctx, "forum.example.kz"), _source(any_ctx, "t.me/channel")
    now = utcnow()
    today, yesterday = [0.0, 0.1, 0.0999, 0.5, 0.9, 1.0], [0.3, 0.35]
    with session_scope(any_ctx.sessions) as session:
        make_scored_items(session, today, model_version=VERSION, source_id=forum, scored_at=now)
        make_scored_items(session, yesterday, model_version=VERSION, source_id=forum, scored_at=now - timedelta(days=1))
        make_scored_items(session, [0.95] * 3, model_version=VERSION, language="kk", source_id=channel,
                          scored_at=now - timedelta(days=2))
        make_scored_items(session, [0.2] * 5, model_version="older-version", source_id=forum, scored_at=now)
        make_scored_items(session, [0.5] * 4, model_version=VERSION, source_id=forum,
                          scored_at=now - timedelta(days=40))
    with session_scope(any_ctx.sessions) as session:
        report = drift_report(any_ctx, session, days=30, now=now)
    assert report.model_version == VERSION and report.reference_status == "ready"
    assert len(report.days) == 30 and report.days[-1] == now.date().isoformat()
    by_name = {g.name: g for g in report.sources}
    assert set(by_name) == {"forum.example.kz", "t.me/channel"}
    forum_group = by_name["forum.example.kz"]
    assert forum_group.key == str(forum) and forum_group.count == 8
    assert forum_group.histogram == histogram(today + yesterday)
    assert forum_group.daily[-1] == histogram(today) and forum_group.daily[-2] == histogram(yesterday)
    assert sum(map(sum, forum_group.daily[:-2])) == 0
    assert forum_group.mean == pytest.approx(sum(today + yesterday) / 8)
    assert by_name["t.me/channel"].daily[-3] == histogram([0.95] * 3)
    assert {g.key: g.count for g in report.languages} == {"ru": 8, "kk": 3}
    assert forum_group.psi == pytest.approx(psi(UNIFORM, forum_group.histogram), abs=1e-4)


def test_a_drifted_language_and_source_alert_above_the_threshold_with_enough_scores(ctx: Context) -> None:
    ctx.settings = ctx.settings.model_copy(update={"drift_min_count": 20, "drift_psi_alert": 0.2})
    make_drift_model(ctx.settings.models_dir, VERSION, REFERENCE)
    drifted, steady = _source(ctx, "t.me/drifted"), _source(ctx, "steady.example.kz")
    with session_scope(ctx.sessions) as session:
        make_scored_items(session, [0.95] * 30, model_version=VERSION, language="kk", source_id=drifted)
        make_scored_items(session, SPREAD * 3, model_version=VERSION, language="ru", source_id=steady)
        make_scored_items(session, [0.95] * 5, model_version=VERSION, language="en", source_id=steady)
    with session_scope(ctx.sessions) as session:
        report = drift_report(ctx, session, days=7)
    languages = {g.key: g for g in report.languages}
    assert languages["kk"].alert and languages["kk"].reference == "language" and languages["kk"].psi > 5
    assert not languages["ru"].alert and languages["ru"].reference == "overall" and languages["ru"].psi < 0.01
    assert not languages["en"].alert and languages["en"].psi > 0.2  # too few scores to alert on
    sources = {g.name: g for g in report.sources}
    assert sources["t.me/drifted"].alert and not sources["steady.example.kz"].alert
    assert report.threshold == 0.2 and report.min_count == 20 and report.reference_histogram == UNIFORM


def test_a_version_without_a_reference_gets_the_job_that_computes_it_and_a_failure_is_reported(ctx: Context) -> None:
    ctx.settings = ctx.settings.model_copy(update={"seed_data": ctx.settings.var_dir / "no-seed.jsonl"})
    make_drift_model(ctx.settings.models_dir, VERSION, None)
    with session_scope(ctx.sessions) as session:
        make_scored_items(session, [0.4] * 3, model_version=VERSION)
    with session_scope(ctx.sessions) as session:
        report = drift_report(ctx, session, days=7)
    assert report.reference_status == "computing" and report.languages[0].psi is None
    assert not report.languages[0].alert
    key = reference_job_key(VERSION)
    deadline = time.monotonic() + 60
    while (info := ctx.jobs.get(key)) is None or info.status != JobStatus.FAILED:
        assert time.monotonic() < deadline, info
        time.sleep(0.1)
    with session_scope(ctx.sessions) as session:
        report = drift_report(ctx, session, days=7)
    assert report.reference_status == "failed" and "held-out" in (report.reference_error or "")
    assert ctx.jobs.get(key).attempts == 1  # type: ignore[union-attr]  # reported, not run again


def test_no_production_model_reports_nothing(ctx: Context) -> None:
    with session_scope(ctx.sessions) as session:
        report = drift_report(ctx, session, days=3)
    assert report.reference_status == "no_model" and report.sources == [] and report.languages == []
    assert len(report.days) == 3


def test_drift_api_for_ml_staff(
    client: TestClient, ctx: Context, make_user: Callable[..., User], auth_headers: Callable[[User], dict[str, str]]
) -> None:
    make_drift_model(ctx.settings.models_dir, VERSION, REFERENCE)
    with session_scope(ctx.sessions) as session:
        make_scored_items(session, [0.95] * 60, model_version=VERSION, language="kk")
    for role in (Role.VOLUNTEER, Role.MODERATOR, Role.POLICE):
        assert client.get("/models/drift", headers=auth_headers(make_user(role))).status_code == 403
    assert client.get("/models/drift").status_code == 401
    ml = auth_headers(make_user(Role.ML_ENGINEER))
    assert client.get("/models/drift?days=0", headers=ml).status_code == 422
    assert client.get("/models/drift?days=91", headers=ml).status_code == 422
    body = client.get("/models/drift?days=14", headers=ml).json()
    assert body["model_version"] == VERSION and body["reference_status"] == "ready"
    assert body["bins"] == BINS and len(body["edges"]) == BINS + 1 and len(body["days"]) == 14
    (kk,) = body["languages"]
    assert kk["key"] == "kk" and kk["count"] == 60 and kk["alert"] is True and kk["psi"] > 0.2
    assert len(kk["daily"]) == 14 and sum(kk["daily"][-1]) == 60
    assert body["sources"][0]["name"] == "—" and body["sources"][0]["key"] == ""
    admin = auth_headers(make_user(Role.ADMIN))
    assert client.get("/models/drift", headers=admin).status_code == 200
