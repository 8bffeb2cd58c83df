"""Sources as entities: decisions roll up to the channel or domain their items came from.

For each source, ``reviewed_count`` counts its items' review tasks decided illegal or legal,
and ``illegal_count`` those decided illegal, minus those the police found not illegal.
``risk_score = illegal / (reviewed + source_risk_prior_weight)``: a rate shrunk towards zero, so
one confirmed post does not make a source look as risky as a hundred.

Risk drives the crawlers two ways: ``recrawl_interval_seconds`` shortens a risky source's
recrawl interval (and its ``next_crawl_at`` is pulled in), and the outlinks of risky sources
(``source_links``) become candidate sources, disabled until a moderator accepts them.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import and_, case, func, or_, select
from sqlalchemy.orm import Session

from saqshy.db.models import (
    Case,
    CaseOutcome,
    ContentItem,
    ReviewTask,
    Source,
    SourceKind,
    SourceLink,
    TaskStatus,
    Verdict,
)
from saqshy.errors import ErrorCode, InvalidTransition, NotFound
from saqshy.netpolicy import AddressNotAllowed, AddressPolicy
from saqshy.settings import Settings
from saqshy.timeutil import as_utc, utcnow
from triage_api.services.audit import append_audit

# A risk change smaller than this is not worth an audit entry or a recrawl reschedule.
RISK_EPSILON = 1e-6


def risk_from_counts(reviewed: int, illegal: int, settings: Settings) -> float:
    denominator = reviewed + settings.source_risk_prior_weight
    return 0.0 if denominator <= 0 else min(1.0, max(0.0, illegal / denominator))


def recrawl_interval_seconds(source: Source, settings: Settings) -> int:
    """How often the crawlers should revisit the source, given its risk (crawlers call this)."""
    base = source.crawl_every_seconds
    shortened = int(base / (1.0 + settings.source_risk_recrawl_boost * (source.risk_score or 0.0)))
    return max(min(base, settings.source_min_recrawl_seconds), shortened)


@dataclass(frozen=True)
class SourceCounts:
    reviewed: int
    illegal: int


def source_counts(session: Session, source_ids: Iterable[int] | None = None) -> dict[int, SourceCounts]:
    """Decided tasks per source, and those confirmed illegal (not overturned by the police)."""
    confirmed = and_(
        ReviewTask.decision == Verdict.ILLEGAL,
        or_(Case.outcome.is_(None), Case.outcome != CaseOutcome.NOT_ILLEGAL),
    )
    query = (
        select(
            ContentItem.source_id,
            func.count(ReviewTask.id),
            func.sum(case((confirmed, 1), else_=0)),
        )
        .join(ReviewTask, ReviewTask.item_id == ContentItem.id)
        .outerjoin(Case, Case.task_id == ReviewTask.id)
        .where(
            ContentItem.source_id.is_not(None),
            ReviewTask.status == TaskStatus.DECIDED,
            ReviewTask.decision.in_([Verdict.ILLEGAL, Verdict.LEGAL]),
            ReviewTask.is_gold.is_(False),
        )
        .group_by(ContentItem.source_id)
    )
    if source_ids is not None:
        query = query.where(ContentItem.source_id.in_(list(source_ids)))
    return {
        int(source_id): SourceCounts(reviewed=int(reviewed or 0), illegal=int(illegal or 0))
        for source_id, reviewed, illegal in session.execute(query)
    }


def refresh_source_risk(
    session: Session, settings: Settings, source_ids: Iterable[int] | None = None, *, actor_id: int | None = None
) -> list[int]:
    """Recompute counts and risk of the given sources (all when None); return the ids whose risk changed.

    A change is audited, and a risk that rose pulls the source's next crawl in.
    """
    ids = None if source_ids is None else sorted(set(source_ids))
    counts = source_counts(session, ids)
    query = select(Source).order_by(Source.id)
    if ids is not None:
        query = query.where(Source.id.in_(ids))
    changed: list[int] = []
    now = utcnow()
    for source in session.scalars(query):
        found = counts.get(source.id, SourceCounts(0, 0))
        risk = risk_from_counts(found.reviewed, found.illegal, settings)
        old_risk = source.risk_score or 0.0
        if (
            source.reviewed_count == found.reviewed
            and source.illegal_count == found.illegal
            and abs(old_risk - risk) < RISK_EPSILON
        ):
            continue
        source.reviewed_count = found.reviewed
        source.illegal_count = found.illegal
        source.risk_score = risk
        if abs(old_risk - risk) < RISK_EPSILON:
            continue
        changed.append(source.id)
        if risk > old_risk and source.last_crawled_at is not None:
            sooner = as_utc(source.last_crawled_at) + timedelta(seconds=recrawl_interval_seconds(source, settings))
            if source.next_crawl_at is None or sooner < as_utc(source.next_crawl_at):
                source.next_crawl_at = max(sooner, now)
        append_audit(
            session,
            actor_id=actor_id,
            action="source.risk_changed",
            entity_type="source",
            entity_id=source.id,
            payload={
                "from": round(old_risk, 6),
                "to": round(risk, 6),
                "reviewed": found.reviewed,
                "illegal": found.illegal,
            },
        )
    session.flush()
    return changed


# --- reading ----------------------------------------------------------------------------------


def get_source(session: Session, source_id: int) -> Source:
    source = session.get(Source, source_id)
    if source is None:
        raise NotFound(f"source {source_id} does not exist", source_id=source_id, code=ErrorCode.SOURCE_NOT_FOUND)
    return source


def list_sources(
    session: Session,
    *,
    candidates: bool = False,
    include_rejected: bool = False,
    min_risk: float | None = None,
    kind: SourceKind | None = None,
    offset: int = 0,
    limit: int = 50,
) -> tuple[list[Source], int]:
    """Riskiest first. ``candidates`` lists the suggested sources awaiting a moderator instead."""
    query = select(Source).where(Source.is_candidate.is_(candidates))
    if candidates and not include_rejected:
        query = query.where(Source.candidate_rejected_at.is_(None))
    if min_risk is not None:
        query = query.where(Source.risk_score >= min_risk)
    if kind is not None:
        query = query.where(Source.kind == kind)
    total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
    order = (Source.risk_score.desc(), Source.id) if not candidates else (Source.created_at.desc(), Source.id.desc())
    rows = session.scalars(query.order_by(*order).offset(offset).limit(limit))
    return list(rows), int(total)


# --- candidates from outlinks -----------------------------------------------------------------


def candidate_url(target: str, kind: SourceKind) -> str:
    """The URL a crawler starts from for an outlink target (a domain, or a Telegram channel)."""
    if target.startswith(("http://", "https://")):
        return target
    if kind == SourceKind.TELEGRAM:
        return f"https://t.me/s/{target.removeprefix('@').removeprefix('t.me/')}"
    return f"https://[{target}]/" if ":" in target else f"https://{target}/"


def suggest_candidates(session: Session, settings: Settings, *, actor_id: int | None = None) -> list[Source]:
    """Turn the outlinks of risky sources into candidate sources (disabled until accepted).

    A target already known as a source (accepted, candidate or rejected) is never suggested again,
    nor one whose host is, or resolves to, an address outside the policy (a hostile page may link to
    the intranet on purpose).
    """
    rows = session.execute(
        select(SourceLink, Source.id)
        .join(Source, Source.id == SourceLink.source_id)
        .where(
            Source.is_candidate.is_(False),
            Source.risk_score >= settings.source_candidate_min_risk,
            Source.reviewed_count > 0,
            SourceLink.seen_count >= settings.source_candidate_min_links,
        )
        .order_by(Source.risk_score.desc(), SourceLink.seen_count.desc(), SourceLink.id)
    ).all()
    if not rows:
        return []
    targets = {link.target for link, _ in rows}
    known_names = set(session.scalars(select(Source.name).where(Source.name.in_(targets))))
    policy = settings.address_policy
    created: list[Source] = []
    for link, from_id in rows:
        if link.target in known_names:
            continue
        known_names.add(link.target)
        url = candidate_url(link.target, link.target_kind)
        if not _address_permitted(url, policy):
            continue
        source = Source(
            name=link.target[:200],
            url=url,
            kind=link.target_kind,
            is_candidate=True,
            enabled=False,
            discovered_from_id=from_id,
            settings={"suggested_by": "outlinks", "seen_count": link.seen_count},
            created_at=utcnow(),
        )
        session.add(source)
        created.append(source)
    session.flush()
    for source in created:
        append_audit(
            session,
            actor_id=actor_id,
            action="source.candidate_suggested",
            entity_type="source",
            entity_id=source.id,
            payload={"name": source.name, "discovered_from_id": source.discovered_from_id},
        )
    return created


def _address_permitted(url: str, policy: AddressPolicy) -> bool:
    try:
        policy.check_url(url, unresolvable_ok=True)
    except AddressNotAllowed:
        return False
    return True


def accept_candidate(session: Session, source_id: int, actor_id: int, policy: AddressPolicy) -> Source:
    """Turn a candidate into a crawled source; AddressNotAllowed if its host is outside the policy
    (a candidate suggested before the policy, or a name that now resolves inside)."""
    source = _lock_candidate(session, source_id)
    policy.check_url(source.url, unresolvable_ok=True)
    source.is_candidate = False
    source.enabled = True
    source.candidate_rejected_at = None
    source.next_crawl_at = utcnow()
    _audit_candidate(session, source, actor_id, "source.candidate_accepted")
    return source


def reject_candidate(session: Session, source_id: int, actor_id: int) -> Source:
    source = _lock_candidate(session, source_id)
    if source.candidate_rejected_at is not None:
        return source
    source.enabled = False
    source.candidate_rejected_at = utcnow()
    _audit_candidate(session, source, actor_id, "source.candidate_rejected")
    return source


def _lock_candidate(session: Session, source_id: int) -> Source:
    source = _lock_source(session, source_id)
    if not source.is_candidate:
        raise InvalidTransition(f"source {source_id} is not a candidate", source_id=source_id)
    return source


def _audit_candidate(session: Session, source: Source, actor_id: int, action: str) -> None:
    session.flush()
    append_audit(session, actor_id=actor_id, action=action, entity_type="source", entity_id=source.id,
                 payload={"name": source.name})


def _lock_source(session: Session, source_id: int) -> Source:
    source = session.scalars(select(Source).where(Source.id == source_id).with_for_update()).one_or_none()
    if source is None:
        raise NotFound(f"source {source_id} does not exist", source_id=source_id, code=ErrorCode.SOURCE_NOT_FOUND)
    return source


def source_detail(session: Session, source: Source, settings: Settings) -> dict[str, Any]:
    """Extra figures for one source: rate, recrawl interval, open cases, outlinks."""
    open_cases = session.scalar(
        select(func.count(Case.id))
        .join(ContentItem, ContentItem.id == Case.item_id)
        .where(ContentItem.source_id == source.id)
    )
    links = session.scalars(
        select(SourceLink).where(SourceLink.source_id == source.id).order_by(SourceLink.seen_count.desc()).limit(20)
    )
    return {
        "illegal_rate": source.illegal_count / source.reviewed_count if source.reviewed_count else 0.0,
        "recrawl_interval_seconds": recrawl_interval_seconds(source, settings),
        "cases": int(open_cases or 0),
        "top_links": [
            {"target": link.target, "kind": link.target_kind.value, "seen_count": link.seen_count} for link in links
        ],
    }


# --- schedule (admin view) -----------------------------------------------------------------------


def create_source(
    session: Session,
    actor_id: int,
    *,
    url: str,
    kind: SourceKind,
    crawl_every_seconds: int,
    max_depth: int,
    name: str | None,
    policy: AddressPolicy,
) -> Source:
    """Add a source to crawl, due now; the crawlers' own rules check the URL, its address and the name (audited)."""
    from crawlers.sources import add_source

    source = add_source(session, url, kind, policy=policy, every=crawl_every_seconds, depth=max_depth, name=name)
    source.next_crawl_at = utcnow()
    session.flush()
    append_audit(session, actor_id=actor_id, action="source.create", entity_type="source", entity_id=source.id,
                 payload={"name": source.name, "url": source.url, "kind": source.kind.value})
    return source


def crawl_now(session: Session, source_id: int, actor_id: int) -> Source:
    """Make a source due now: the periodic crawl job picks it up within its minute (audited)."""
    source = _lock_source(session, source_id)
    if source.is_candidate or not source.enabled:
        raise InvalidTransition(f"source {source_id} is not enabled; enable or accept it first",
                                code=ErrorCode.SOURCE_NOT_ENABLED, params={"id": source_id}, source_id=source_id)
    source.next_crawl_at = utcnow()
    session.flush()
    append_audit(session, actor_id=actor_id, action="source.crawl_now", entity_type="source", entity_id=source.id,
                 payload={"name": source.name})
    return source


def update_source(
    session: Session,
    settings: Settings,
    source_id: int,
    actor_id: int,
    *,
    crawl_every_seconds: int | None = None,
    enabled: bool | None = None,
    max_depth: int | None = None,
) -> Source:
    """Change a source's schedule; audited with the values before and after. None leaves a field as is.

    A new interval reschedules the next crawl from the last one; enabling a source that has never
    been scheduled makes it due now.
    """
    source = _lock_source(session, source_id)
    changes: dict[str, dict[str, Any]] = {}
    for name, value in (("crawl_every_seconds", crawl_every_seconds), ("enabled", enabled), ("max_depth", max_depth)):
        if value is None or getattr(source, name) == value:
            continue
        changes[name] = {"from": getattr(source, name), "to": value}
        setattr(source, name, value)
    if not changes:
        return source
    now = utcnow()
    if "crawl_every_seconds" in changes and source.last_crawled_at is not None:
        source.next_crawl_at = max(
            now, as_utc(source.last_crawled_at) + timedelta(seconds=recrawl_interval_seconds(source, settings))
        )
    if changes.get("enabled", {}).get("to") is True and source.next_crawl_at is None:
        source.next_crawl_at = now
    session.flush()
    append_audit(session, actor_id=actor_id, action="source.update", entity_type="source", entity_id=source.id,
                 payload=changes)
    return source


@dataclass(frozen=True)
class CrawlState:
    source: Source
    item_count: int
    items_last_24h: int
    overdue: bool
    recrawl_interval_seconds: int


def crawl_status(session: Session, settings: Settings, now: datetime | None = None) -> list[CrawlState]:
    """Every crawled source (not candidates) with its schedule and item counts, most overdue first."""
    now = now or utcnow()
    since = now - timedelta(hours=24)
    counts = {
        int(source_id): (int(total or 0), int(recent or 0))
        for source_id, total, recent in session.execute(
            select(
                ContentItem.source_id,
                func.count(ContentItem.id),
                func.sum(case((ContentItem.fetched_at >= since, 1), else_=0)),
            )
            .where(ContentItem.source_id.is_not(None))
            .group_by(ContentItem.source_id)
        )
    }
    states = []
    for source in session.scalars(select(Source).where(Source.is_candidate.is_(False)).order_by(Source.id)):
        total, recent = counts.get(source.id, (0, 0))
        overdue = bool(source.enabled) and source.next_crawl_at is not None and as_utc(source.next_crawl_at) < now
        states.append(CrawlState(source, total, recent, overdue, recrawl_interval_seconds(source, settings)))
    never = datetime.max.replace(tzinfo=UTC)
    states.sort(key=lambda st: (not st.overdue, not st.source.enabled,
                                as_utc(st.source.next_crawl_at) if st.source.next_crawl_at else never, st.source.id))
    return states
