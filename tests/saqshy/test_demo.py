"""``saqshy demo`` as the README's ``make demo`` runs it: a real process on the embedded defaults,
serving the bundled sample site and crawling it with the real crawler."""

from __future__ import annotations

import ipaddress
import os
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from urllib.parse import urlsplit

from sqlalchemy import select

from saqshy.context import build_context
from saqshy.db.models import ContentItem, JobRecord, JobStatus, Source, SourceKind, utcnow
from saqshy.db.session import session_scope
from saqshy.demo import SAMPLE_PARTS, SEED_SOURCE, SITE_DIR, crawl_settings, serve_sample_site, site_address
from saqshy.settings import Settings
from tests.classifier.conftest import tiny_base, tiny_registry  # noqa: F401 - fixtures

SAQSHY = [sys.executable, "-c", "from saqshy.cli import run; run()"]


def _demo_env(settings: Settings) -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith("SAQSHY_")} | {
        "SAQSHY_VAR_DIR": str(settings.var_dir),
        "SAQSHY_MODELS_DIR": str(settings.models_dir),
        "SAQSHY_BASE_MODEL": str(settings.base_model),
        "SAQSHY_TRIAGE_ARGON2_TIME_COST": "1",
        "SAQSHY_TRIAGE_ARGON2_MEMORY_KIB": "1024",
    }


def _run_demo(env: dict[str, str]) -> tuple[subprocess.CompletedProcess[str], float]:
    started = time.monotonic()
    result = subprocess.run([*SAQSHY, "demo", "--items", "12"], env=env, capture_output=True, text=True, timeout=240)
    return result, time.monotonic() - started


def _items_by_source(settings: Settings) -> dict[str, list[ContentItem]]:
    ctx = build_context(settings, migrate=False)
    try:
        with session_scope(ctx.sessions) as session:
            found: dict[str, list[ContentItem]] = {}
            for item, name in session.execute(select(ContentItem, Source.name).join(Source)):
                session.expunge(item)
                found.setdefault(name, []).append(item)
            return found
    finally:
        ctx.close()


def test_the_demo_crawls_its_sample_site_into_the_queue_and_a_second_run_adds_nothing(
    tiny_registry: tuple[Settings, str],  # noqa: F811 - the fixture imported above
    tmp_path: Path,
) -> None:
    """Also: a stopped ``saqshy serve`` leaves its recurring jobs queued in the store; the demo
    must not wait for them (only the next server runs them)."""
    registry, _version = tiny_registry
    settings = registry.model_copy(update={"var_dir": tmp_path / "var"})
    ctx = build_context(settings)
    try:
        with session_scope(ctx.sessions) as session:
            session.add(JobRecord(key="escalation.sweep:left-over", name="escalation.sweep", args={},
                                  status=JobStatus.QUEUED, attempts=0, max_attempts=5, enqueued_at=utcnow(),
                                  next_attempt_at=utcnow()))
    finally:
        ctx.close()
    env = _demo_env(settings)

    result, elapsed = _run_demo(env)

    assert result.returncode == 0, result.stderr[-3000:]
    assert "review queue:" in result.stderr and "open tasks" in result.stderr
    assert "scoring not finished" not in result.stderr
    assert elapsed < 120, f"the demo took {elapsed:.0f} s"
    address = site_address()
    assert f"may reach {address}/32 only" in " ".join(result.stderr.split())  # rich wraps at 80 columns
    items = _items_by_source(settings)
    assert len(items.pop(SEED_SOURCE)) == 12
    ctx = build_context(settings, migrate=False)
    try:
        with session_scope(ctx.sessions) as session:
            kinds = {s.name: s.kind for s in session.scalars(select(Source).where(Source.name.in_(list(items))))}
            assert not any(session.scalars(select(Source.enabled).where(Source.name.in_(list(items)))))
            jobs = {r.key: r.status for r in session.scalars(select(JobRecord))}
    finally:
        ctx.close()
    assert sorted(kinds.values()) == sorted([SourceKind.FORUM, SourceKind.SITE, SourceKind.TELEGRAM])
    crawled = [item for source_items in items.values() for item in source_items]
    assert len(crawled) >= 50
    # Every crawled item was fetched from the sample site's address and has its WARC record.
    assert {item.server_ip for item in crawled} == {address}
    assert all(item.evidence_path and item.evidence_length for item in crawled)
    by_kind = {kinds[name]: source_items for name, source_items in items.items()}
    assert {item.language for item in by_kind[SourceKind.SITE]} >= {"ru", "kk", "en"}
    assert all(item.url.startswith("https://t.me/example_city_deals/") for item in by_kind[SourceKind.TELEGRAM])
    assert all("#post-" in item.url for item in by_kind[SourceKind.FORUM] if item.author)
    assert jobs.pop("escalation.sweep:left-over") == JobStatus.QUEUED  # the next server runs it
    score_jobs = [status for key, status in jobs.items() if key.startswith("score_items")]
    assert len(score_jobs) >= 2 and set(score_jobs) == {JobStatus.SUCCEEDED}

    again, _ = _run_demo(env)

    assert again.returncode == 0, again.stderr[-3000:]
    after = _items_by_source(settings)
    assert len(after.pop(SEED_SOURCE)) == 12
    assert _urls(after) == _urls(items)


def _urls(items: dict[str, list[ContentItem]]) -> dict[str, set[str]]:
    return {name: {item.url for item in source_items} for name, source_items in items.items()}


def test_the_demo_crawl_may_reach_the_sample_site_address_and_nothing_else() -> None:
    address = site_address()
    user = Settings(crawler_allowed_networks="10.0.0.0/8")

    policy = crawl_settings(user, address).address_policy

    assert policy.permits(address)
    others = {"127.0.0.1", "127.0.83.2", "10.0.0.1", "169.254.169.254", "192.168.1.1", "::1"} - {address}
    assert not any(policy.permits(other) for other in others)
    assert user.crawler_allowed_networks == "10.0.0.0/8"  # the user's own setting is left as it was


def test_the_sample_site_serves_its_parts_with_absolute_sitemaps_on_one_loopback_address() -> None:
    address = site_address()
    with serve_sample_site(address, {part.folder: 0 for part in SAMPLE_PARTS}) as origins:
        assert {urlsplit(origin).hostname for origin in origins.values()} == {address}
        assert ipaddress.ip_address(address).is_loopback
        with urllib.request.urlopen(f"{origins['news']}/sitemap.xml", timeout=10) as response:
            sitemap = response.read().decode()
        with urllib.request.urlopen(f"{origins['news']}/robots.txt", timeout=10) as response:
            robots = response.read().decode()
        with urllib.request.urlopen(f"{origins['channel']}/s/example_city_deals/", timeout=10) as response:
            channel = response.read().decode()
        try:
            urllib.request.urlopen(f"{origins['news']}/..%2f..%2fdemo.py", timeout=10)
            escaped = True
        except urllib.error.HTTPError as exc:
            escaped = exc.code != 404
    assert f"<loc>{origins['news']}/en/news/marathon.html</loc>" in sitemap
    assert f"Sitemap: {origins['news']}/sitemap.xml" in robots and "Disallow: /admin/" in robots
    assert "tgme_widget_message" in channel
    assert not escaped
    assert (SITE_DIR / "news" / "index.html").is_file()


def test_the_demo_picks_the_same_sample_items_in_every_process() -> None:
    code = "from saqshy.demo import SEED_DIR, _seed_examples; print([e['id'] for e in _seed_examples(SEED_DIR, 40)])"
    picks = {subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                            env=os.environ | {"PYTHONHASHSEED": seed}).stdout for seed in ("1", "2")}
    assert len(picks) == 1 and picks.pop().count(",") == 39


def test_the_demo_site_is_only_up_while_the_demo_runs() -> None:
    with serve_sample_site(site_address(), {part.folder: 0 for part in SAMPLE_PARTS}) as origins:
        url = f"{origins['forum']}/"
    try:
        urllib.request.urlopen(url, timeout=5)
        reachable = True
    except OSError:
        reachable = False
    assert not reachable


def test_the_seed_items_source_of_an_earlier_demo_is_renamed_not_duplicated(tmp_path: Path) -> None:
    from saqshy.demo import OLD_SEED_SOURCE, _seed_source_id

    ctx = build_context(Settings(var_dir=tmp_path / "var"))
    try:
        with session_scope(ctx.sessions) as session:
            old = Source(name=OLD_SEED_SOURCE, url="https://demo.saqshy.example/", kind=SourceKind.SITE, enabled=False)
            session.add(old)
            session.flush()
            old_id = old.id

        assert _seed_source_id(ctx) == old_id
        assert _seed_source_id(ctx) == old_id
        with session_scope(ctx.sessions) as session:
            assert list(session.scalars(select(Source.name))) == [SEED_SOURCE]
    finally:
        ctx.close()
