"""The sources domain: adding (URL, address, credentials), scheduling, outlinks, risk roll-up, candidates."""

from __future__ import annotations

from collections import Counter
from datetime import timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from saqshy.context import Context
from saqshy.db.models import AuditEntry, CaseOutcome, Role, Source, SourceKind, SourceLink, Verdict, utcnow
from saqshy.db.session import session_scope
from saqshy.errors import InvalidTransition
from saqshy.netpolicy import AddressNotAllowed, AddressPolicy, CredentialsInUrl
from saqshy.services import sources
from saqshy.services.sources import add_source, mark_crawled, record_outlinks
from saqshy.settings import Settings
from tests.triage_api.escalation_factories import (
    decide_source_items,
    make_decided_task,
    make_item,
    make_source,
    make_user,
)
from triage_api.services import cases

PUBLIC = AddressPolicy()  # public addresses only: the default


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1/",
        "http://169.254.169.254/latest/meta-data/",
        "http://[::1]/",
        "http://[::ffff:127.0.0.1]/",
        "http://0x7f000001/",
        "http://2130706433/",
        "http://10.0.0.1/",
        "http://localhost:8080/",
    ],
)
def test_a_source_at_a_private_address_is_refused(ctx: Context, url: str) -> None:
    with session_scope(ctx.sessions) as session, pytest.raises(AddressNotAllowed, match="not a public address"):
        add_source(session, url, "site", policy=PUBLIC)
    with session_scope(ctx.sessions) as session:
        assert session.scalars(select(Source)).all() == []


def test_allowed_networks_admit_a_private_source(ctx: Context) -> None:
    with session_scope(ctx.sessions) as session:
        source = add_source(session, "http://10.1.2.3/wiki", "site", policy=AddressPolicy.of("10.1.0.0/16"))
        assert source.url == "http://10.1.2.3/wiki"


@pytest.mark.parametrize("url", ["https://editor:hunter2@news.example.kz/", "https://token@news.example.kz/feed"])
def test_credentials_in_a_source_url_are_refused_and_never_stored(ctx: Context, url: str) -> None:
    with session_scope(ctx.sessions) as session, pytest.raises(CredentialsInUrl) as refused:
        add_source(session, url, "feed", policy=PUBLIC)
    assert "hunter2" not in str(refused.value) and "token" not in str(refused.value)
    with session_scope(ctx.sessions) as session:
        assert session.scalars(select(Source)).all() == []


def test_mark_crawled_schedules_the_next_crawl(ctx: Context) -> None:
    with session_scope(ctx.sessions) as session:
        source = add_source(session, "https://a.example.kz/", "site", policy=PUBLIC, every="2h")
        source_id = source.id
    with session_scope(ctx.sessions) as session:
        mark_crawled(session, source_id, ctx.settings)
    with session_scope(ctx.sessions) as session:
        stored = session.get(Source, source_id)
        assert stored is not None and stored.last_crawled_at and stored.next_crawl_at
        gap = (stored.next_crawl_at - stored.last_crawled_at).total_seconds()
        assert gap == 7200  # risk 0: the configured interval


def test_outlinks_accumulate_per_source(ctx: Context) -> None:
    with session_scope(ctx.sessions) as session:
        source_id = add_source(session, "https://a.example.kz/", "site", policy=PUBLIC).id
        record_outlinks(session, source_id, Counter({("t.me/x", "telegram"): 2, ("b.kz", "site"): 1}))
    with session_scope(ctx.sessions) as session:
        record_outlinks(session, source_id, Counter({("t.me/x", "telegram"): 3}))
    with session_scope(ctx.sessions) as session:
        links = {link.target: link.seen_count for link in session.scalars(select(SourceLink))}
    assert links == {"t.me/x": 5, "b.kz": 1}


def test_rollup_counts_and_shrunk_rate(sessions: sessionmaker[Session], settings: Settings) -> None:
    with sessions.begin() as session:
        risky, clean, quiet = make_source(session), make_source(session), make_source(session)
        decide_source_items(session, settings, risky, [Verdict.ILLEGAL] * 3 + [Verdict.LEGAL, Verdict.UNSURE])
        decide_source_items(session, settings, clean, [Verdict.LEGAL] * 4)
        # Gold tasks measure volunteers; they say nothing about the source.
        make_decided_task(session, make_item(session, settings, source=quiet), Verdict.ILLEGAL, is_gold=True)
        changed = sources.refresh_source_risk(session, settings)
        # The legal decisions came after the last case: the roll-up catches them up.
        assert risky.id in changed and clean.id not in changed
        assert (risky.reviewed_count, risky.illegal_count) == (4, 3)
        assert risky.risk_score == pytest.approx(3 / (4 + settings.source_risk_prior_weight))
        assert (clean.reviewed_count, clean.illegal_count, clean.risk_score) == (4, 0, 0.0)
        assert quiet.reviewed_count == 0
        rows, count = sources.list_sources(session)
        assert rows[0].id == risky.id and count == 3


def test_police_not_illegal_lowers_risk(sessions: sessionmaker[Session], settings: Settings) -> None:
    with sessions.begin() as session:
        police = make_user(session, Role.POLICE)
        source = make_source(session)
        task = make_decided_task(session, make_item(session, settings, source=source))
        case = cases.open_case(session, task, settings, None)
        cases.ensure_evidence(session, case.id, settings)
        assert source.illegal_count == 1
        cases.set_outcome(session, case.id, police.id, CaseOutcome.NOT_ILLEGAL, settings)
        session.refresh(source)
        assert (source.reviewed_count, source.illegal_count, source.risk_score) == (1, 0, 0.0)
    with sessions() as session:  # audit entries are written when their transaction commits
        changes = session.scalars(
            select(AuditEntry).where(AuditEntry.action == "source.risk_changed").order_by(AuditEntry.id)
        ).all()
        assert [c.payload["to"] for c in changes] == [pytest.approx(1 / 6, abs=1e-6), 0.0]


def test_risk_shortens_recrawl(sessions: sessionmaker[Session], settings: Settings) -> None:
    with sessions.begin() as session:
        crawled = utcnow() - timedelta(minutes=30)
        source = make_source(
            session, crawl_every_seconds=6 * 3600, last_crawled_at=crawled, next_crawl_at=crawled + timedelta(hours=6)
        )
        assert sources.recrawl_interval_seconds(source, settings) == 6 * 3600
        decide_source_items(session, settings, source, [Verdict.ILLEGAL] * 5)
        session.refresh(source)
        interval = sources.recrawl_interval_seconds(source, settings)
        assert settings.source_min_recrawl_seconds <= interval < 6 * 3600 / 4
        # The next crawl is pulled in from six hours after the last one.
        assert source.next_crawl_at is not None
        assert source.next_crawl_at.replace(tzinfo=None) < (crawled + timedelta(hours=2)).replace(tzinfo=None)


def test_candidates_from_outlinks_accept_and_reject(sessions: sessionmaker[Session], settings: Settings) -> None:
    with sessions.begin() as session:
        moderator = make_user(session, Role.MODERATOR)
        risky, clean = make_source(session), make_source(session)
        decide_source_items(session, settings, risky, [Verdict.ILLEGAL] * 4)
        decide_source_items(session, settings, clean, [Verdict.LEGAL] * 4)
        links = [
            SourceLink(source_id=risky.id, target="shop-channel", target_kind=SourceKind.TELEGRAM, seen_count=5),
            SourceLink(source_id=risky.id, target="mirror.example", target_kind=SourceKind.SITE, seen_count=2),
            SourceLink(source_id=risky.id, target="once.example", target_kind=SourceKind.SITE, seen_count=1),
            SourceLink(source_id=risky.id, target=clean.name, target_kind=SourceKind.SITE, seen_count=9),
            SourceLink(source_id=clean.id, target="harmless.example", target_kind=SourceKind.SITE, seen_count=9),
            # A hostile page links inside, in every spelling: never suggested.
            *(
                SourceLink(source_id=risky.id, target=target, target_kind=SourceKind.SITE, seen_count=9)
                for target in ("127.0.0.1", "169.254.169.254", "2130706433", "0x7f000001", "::1", "localhost")
            ),
        ]
        session.add_all(links)
        session.flush()
        created = sources.suggest_candidates(session, settings)
        assert {(s.name, s.url, s.enabled, s.discovered_from_id) for s in created} == {
            ("shop-channel", "https://t.me/s/shop-channel", False, risky.id),
            ("mirror.example", "https://mirror.example/", False, risky.id),
        }
        assert sources.suggest_candidates(session, settings) == []
        candidates, count = sources.list_sources(session, candidates=True)
        assert count == 2
        by_name = {s.name: s for s in candidates}
        accepted = sources.accept_candidate(session, by_name["shop-channel"].id, moderator.id, settings.address_policy)
        assert accepted.enabled and not accepted.is_candidate
        rejected = sources.reject_candidate(session, by_name["mirror.example"].id, moderator.id)
        assert rejected.candidate_rejected_at is not None and not rejected.enabled
        with pytest.raises(InvalidTransition):
            sources.accept_candidate(session, risky.id, moderator.id, settings.address_policy)
        assert sources.list_sources(session, candidates=True)[1] == 0
        assert sources.suggest_candidates(session, settings) == []


def test_a_private_candidate_is_never_accepted(sessions: sessionmaker[Session], settings: Settings) -> None:
    """A candidate suggested before the address policy existed (or allowed then) is refused at acceptance."""
    with sessions.begin() as session:
        moderator = make_user(session, Role.MODERATOR)
        candidate = make_source(session, url="http://169.254.169.254/latest/", is_candidate=True, enabled=False)
        with pytest.raises(AddressNotAllowed, match="not a public address"):
            sources.accept_candidate(session, candidate.id, moderator.id, settings.address_policy)
        assert candidate.is_candidate and not candidate.enabled
