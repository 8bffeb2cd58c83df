"""Sources to crawl, one domain for the crawlers, the CLI and the API.

Adding a source checks its URL (kind, credentials, address policy), name, interval and depth;
the crawlers pick the due ones, record their outlinks and mark them crawled. Decisions roll up
to the channel or domain their items came from: for each source, ``reviewed_count`` counts its
items' review tasks decided illegal or legal, and ``illegal_count`` those decided illegal, minus
those the police found not illegal. ``risk_score = illegal / (reviewed + source_risk_prior_weight)``:
a rate shrunk towards zero, so one confirmed post does not make a source look as risky as a hundred.

Risk drives the crawlers two ways: ``recrawl_interval_seconds`` shortens a risky source's recrawl
interval (and its ``next_crawl_at`` is pulled in), and the outlinks of risky sources
(``source_links``) become candidate sources, disabled until a moderator accepts them.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any, NamedTuple
from urllib.parse import urlsplit

from sqlalchemy import ColumnElement, and_, case, func, or_, select
from sqlalchemy.orm import Session

from crawlers.extraction.canonical import host_of
from crawlers.extraction.telegram import channel_from_url
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
from saqshy.errors import Conflict, ErrorCode, InvalidInput, InvalidTransition, NotFound
from saqshy.netpolicy import AddressNotAllowed, AddressPolicy, refuse_credentials
from saqshy.settings import Settings
from saqshy.timeutil import as_utc, parse_instant, utcnow
from triage_api.services.audit import append_audit

# Bounds of a source's schedule, for every way of adding or changing one (CLI, API).
MIN_CRAWL_EVERY_SECONDS = 60
MAX_DEPTH = 20

# How far back a Telegram crawl reads a channel when its source sets no ``read_back``: the
# preview pages go back to the channel's first post, and a busy channel has years of them.
# The spider's item limit (``max_items``, 1000 by default) bounds a crawl as well.
TELEGRAM_READ_BACK_DEFAULT = "90d"

# A risk change smaller than this is not worth an audit entry or a recrawl reschedule.
RISK_EPSILON = 1e-6

_INTERVAL = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhdw]?)\s*$", re.IGNORECASE)
_UNITS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


# --- intervals and read-back limits -------------------------------------------------------------


def _interval_seconds(text: str) -> float | None:
    """Seconds from ``90``, ``30m``, ``6h``, ``1d``, ``2w``; None when ``text`` is not an interval."""
    match = _INTERVAL.match(text)
    return None if match is None else float(match.group(1)) * _UNITS[match.group(2).lower()]


def parse_interval(value: str | int) -> int:
    """Seconds from ``90``, ``30m``, ``6h``, ``1d``, ``2w``."""
    if isinstance(value, int):
        seconds = value
    else:
        found = _interval_seconds(value)
        if found is None:
            raise InvalidInput(f"not an interval: {value!r} (use e.g. 30m, 6h, 1d)")
        seconds = int(found)
    if seconds < MIN_CRAWL_EVERY_SECONDS:
        raise InvalidInput(f"crawl interval must be at least a minute, got {seconds}s")
    return seconds


def _read_back_since(value: str, now: datetime) -> datetime | None:
    text = value.strip()
    if text.lower() == "all":
        return None
    seconds = _interval_seconds(text)
    if seconds is not None:
        return now - timedelta(seconds=seconds)
    try:
        return parse_instant(text)
    except ValueError:
        raise InvalidInput(
            f"not a read-back limit: {value!r} (an interval such as 30d or 12h, a date such as 2024-01-31, or all)"
        ) from None


def _checked_read_back(kind: SourceKind, read_back: str) -> str:
    """The read-back limit to store, refused now rather than at the first crawl."""
    if kind != SourceKind.TELEGRAM:
        raise InvalidInput("a read-back limit applies to Telegram sources only", code=ErrorCode.READ_BACK_TELEGRAM_ONLY)
    _read_back_since(read_back, utcnow())
    return read_back.strip()


def telegram_until(source: Source, now: datetime | None = None) -> datetime | None:
    """The oldest post date a crawl of this Telegram source reads (None: no date limit).

    ``settings["read_back"]`` is an interval (that far back from each crawl), a fixed date, or
    ``all``; a source without it reads back ``TELEGRAM_READ_BACK_DEFAULT``.
    """
    value = (source.settings or {}).get("read_back") or TELEGRAM_READ_BACK_DEFAULT
    return _read_back_since(str(value), now or utcnow())


# --- adding -------------------------------------------------------------------------------------


def normalise_source_url(url: str, kind: SourceKind) -> str:
    value = url.strip()
    if kind == SourceKind.TELEGRAM and "://" not in value:
        channel = channel_from_url(value)
        if not channel or not re.fullmatch(r"[A-Za-z0-9_]{3,64}", channel):
            raise InvalidInput(f"not a Telegram channel: {url!r}", code=ErrorCode.TELEGRAM_CHANNEL_INVALID)
        return f"https://t.me/s/{channel}"
    # Before anything else: the error must not echo the password.
    refuse_credentials(value)
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise InvalidInput(f"not an http(s) URL: {url!r}", code=ErrorCode.URL_INVALID)
    return value


def check_source_address(url: str, policy: AddressPolicy) -> None:
    """Refuse a source whose host is, or resolves to, an address outside the policy.

    A name that does not resolve now is accepted (a site may be down for a while): the crawler
    checks every address it connects to anyway.
    """
    policy.check_url(url, unresolvable_ok=True)


def default_name(url: str, kind: SourceKind) -> str:
    if kind == SourceKind.TELEGRAM:
        return f"t.me/{channel_from_url(url)}"
    parts = urlsplit(url)
    path = parts.path.rstrip("/")
    return f"{host_of(url)}{path}" if kind == SourceKind.FEED and path else host_of(url)


def add_source(
    session: Session,
    url: str,
    kind: SourceKind | str = SourceKind.SITE,
    *,
    policy: AddressPolicy,
    every: str | int = "6h",
    depth: int = 2,
    name: str | None = None,
    max_items: int | None = None,
    read_back: str | None = None,
) -> Source:
    """Add a source to crawl (due at the next round); InvalidInput or Conflict change nothing."""
    try:
        kind = SourceKind(kind)
    except ValueError:
        raise InvalidInput(f"unknown source kind {kind!r} (site, telegram, feed, forum)") from None
    settings: dict[str, str] = {}
    if read_back is not None:
        settings["read_back"] = _checked_read_back(kind, read_back)
    if depth < 0 or depth > MAX_DEPTH:
        raise InvalidInput(f"depth must be between 0 and {MAX_DEPTH}, got {depth}")
    if max_items is not None and max_items < 1:
        raise InvalidInput("max items must be at least 1")
    url = normalise_source_url(url, kind)
    check_source_address(url, policy)
    name = (name or default_name(url, kind)).strip()
    if not name or len(name) > 200:
        raise InvalidInput("a source name must be 1-200 characters")
    if session.scalar(select(Source.id).where(Source.name == name)) is not None:
        raise Conflict(f"a source named {name!r} already exists", code=ErrorCode.SOURCE_NAME_TAKEN,
                       params={"name": name})
    source = Source(
        name=name,
        url=url,
        kind=kind,
        crawl_every_seconds=parse_interval(every),
        max_depth=depth,
        max_items=max_items,
        enabled=True,
        settings=settings,
        next_crawl_at=None,
    )
    session.add(source)
    session.flush()
    return source


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
    """A person's ``add_source``: the same checks, due now, and audited."""
    source = add_source(session, url, kind, policy=policy, every=crawl_every_seconds, depth=max_depth, name=name)
    source.next_crawl_at = utcnow()
    session.flush()
    _audit(session, source, actor_id, "source.create",
           {"name": source.name, "url": source.url, "kind": source.kind.value})
    return source


# --- reading ------------------------------------------------------------------------------------


class SourceOrder(StrEnum):
    RISK = "risk"  # riskiest first
    NEWEST = "newest"  # most recently added first
    ADDED = "added"  # in the order they were added


_ORDER_BY: dict[SourceOrder, tuple[ColumnElement[Any], ...]] = {
    SourceOrder.RISK: (Source.risk_score.desc(), Source.id.asc()),
    SourceOrder.NEWEST: (Source.created_at.desc(), Source.id.desc()),
    SourceOrder.ADDED: (Source.id.asc(),),
}


class SourcePage(NamedTuple):
    items: list[Source]
    total: int


def list_sources(
    session: Session,
    *,
    candidates: bool | None = False,
    include_rejected: bool = False,
    enabled: bool | None = None,
    min_risk: float | None = None,
    kind: SourceKind | None = None,
    order: SourceOrder = SourceOrder.RISK,
    offset: int = 0,
    limit: int | None = 50,
) -> SourcePage:
    """Crawled sources (``candidates=False``), candidates awaiting a moderator (True), or both (None).

    Rejected candidates are left out unless ``include_rejected``; ``limit=None`` lists them all.
    """
    query = select(Source)
    if candidates is not None:
        query = query.where(Source.is_candidate.is_(candidates))
    if candidates is not False and not include_rejected:
        query = query.where(Source.candidate_rejected_at.is_(None))
    if enabled is not None:
        query = query.where(Source.enabled.is_(enabled))
    if min_risk is not None:
        query = query.where(Source.risk_score >= min_risk)
    if kind is not None:
        query = query.where(Source.kind == kind)
    rows = list(session.scalars(query.order_by(*_ORDER_BY[order]).offset(offset).limit(limit)))
    if limit is None and offset == 0:
        return SourcePage(rows, len(rows))
    total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
    return SourcePage(rows, int(total))


def _source_not_found(source_id: int) -> NotFound:
    return NotFound(f"source {source_id} does not exist", source_id=source_id, code=ErrorCode.SOURCE_NOT_FOUND)


def get_source(session: Session, source_id: int) -> Source:
    source = session.get(Source, source_id)
    if source is None:
        raise _source_not_found(source_id)
    return source


def resolve_sources(session: Session, names: Sequence[str]) -> list[Source]:
    """Sources by name or id; NotFound naming the first unknown one."""
    found: list[Source] = []
    for name in names:
        source = session.scalar(select(Source).where(Source.name == name))
        if source is None and name.isdigit():
            source = session.get(Source, int(name))
        if source is None:
            raise NotFound(f"no source named {name!r} (see `saqshy source list`)")
        found.append(source)
    return found


@dataclass(frozen=True)
class SourceFigures:
    """Extra figures for one source beside its own columns."""

    illegal_rate: float
    recrawl_interval_seconds: int
    cases: int
    top_links: list[SourceLink]


def source_figures(session: Session, source: Source, settings: Settings) -> SourceFigures:
    """Rate, recrawl interval, open cases and the most seen outlinks of one source."""
    open_cases = session.scalar(
        select(func.count(Case.id))
        .join(ContentItem, ContentItem.id == Case.item_id)
        .where(ContentItem.source_id == source.id)
    )
    links = session.scalars(
        select(SourceLink).where(SourceLink.source_id == source.id).order_by(SourceLink.seen_count.desc()).limit(20)
    )
    return SourceFigures(
        illegal_rate=source.illegal_count / source.reviewed_count if source.reviewed_count else 0.0,
        recrawl_interval_seconds=recrawl_interval_seconds(source, settings),
        cases=int(open_cases or 0),
        top_links=list(links),
    )


# --- schedule -----------------------------------------------------------------------------------


def recrawl_interval_seconds(source: Source, settings: Settings) -> int:
    """How often the crawlers revisit the source: its interval, shortened by its risk."""
    base = source.crawl_every_seconds
    shortened = int(base / (1.0 + settings.source_risk_recrawl_boost * (source.risk_score or 0.0)))
    return max(min(base, settings.source_min_recrawl_seconds), shortened)


def next_crawl_after(source: Source, settings: Settings, when: datetime) -> datetime:
    """When the source is due again after a crawl (or a claim) at ``when``."""
    return when + timedelta(seconds=recrawl_interval_seconds(source, settings))


def due_sources(session: Session, now: datetime | None = None) -> list[Source]:
    """Enabled crawled sources whose next crawl has come, riskiest first."""
    now = now or utcnow()
    sources = list_sources(session, enabled=True, limit=None).items
    return [s for s in sources if s.next_crawl_at is None or as_utc(s.next_crawl_at) <= now]


def mark_crawled(session: Session, source_id: int, settings: Settings, when: datetime | None = None) -> None:
    source = session.get(Source, source_id)
    if source is None:
        return
    when = when or utcnow()
    source.last_crawled_at = when
    source.next_crawl_at = next_crawl_after(source, settings, when)


def set_read_back(session: Session, name: str, read_back: str) -> Source:
    """Change how far back each crawl of a Telegram source reads (``30d``, a date, ``all``)."""
    source = resolve_sources(session, [name])[0]
    source.settings = {**(source.settings or {}), "read_back": _checked_read_back(source.kind, read_back)}
    return source


def crawl_now(session: Session, source_id: int, actor_id: int) -> Source:
    """Make a source due now: the periodic crawl job picks it up within its minute (audited)."""
    source = _lock_source(session, source_id)
    if source.is_candidate or not source.enabled:
        raise InvalidTransition(f"source {source_id} is not enabled; enable or accept it first",
                                code=ErrorCode.SOURCE_NOT_ENABLED, params={"id": source_id}, source_id=source_id)
    source.next_crawl_at = utcnow()
    session.flush()
    _audit(session, source, actor_id, "source.crawl_now", {"name": source.name})
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
    """Change a source's schedule, enable or disable it; audited with the values before and after.

    None leaves a field as is. A new interval reschedules the next crawl from the last one;
    enabling a source that has never been scheduled makes it due now.
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
        source.next_crawl_at = max(now, next_crawl_after(source, settings, as_utc(source.last_crawled_at)))
    if changes.get("enabled", {}).get("to") is True and source.next_crawl_at is None:
        source.next_crawl_at = now
    session.flush()
    _audit(session, source, actor_id, "source.update", changes)
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
    for source in list_sources(session, order=SourceOrder.ADDED, limit=None).items:
        total, recent = counts.get(source.id, (0, 0))
        overdue = bool(source.enabled) and source.next_crawl_at is not None and as_utc(source.next_crawl_at) < now
        states.append(CrawlState(source, total, recent, overdue, recrawl_interval_seconds(source, settings)))
    never = datetime.max.replace(tzinfo=UTC)
    states.sort(key=lambda st: (not st.overdue, not st.source.enabled,
                                as_utc(st.source.next_crawl_at) if st.source.next_crawl_at else never, st.source.id))
    return states


# --- risk roll-up -------------------------------------------------------------------------------


def risk_from_counts(reviewed: int, illegal: int, settings: Settings) -> float:
    denominator = reviewed + settings.source_risk_prior_weight
    return 0.0 if denominator <= 0 else min(1.0, max(0.0, illegal / denominator))


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
            sooner = next_crawl_after(source, settings, as_utc(source.last_crawled_at))
            if source.next_crawl_at is None or sooner < as_utc(source.next_crawl_at):
                source.next_crawl_at = max(sooner, now)
        _audit(session, source, actor_id, "source.risk_changed", {
            "from": round(old_risk, 6),
            "to": round(risk, 6),
            "reviewed": found.reviewed,
            "illegal": found.illegal,
        })
    session.flush()
    return changed


# --- discovery: outlinks and candidates ---------------------------------------------------------


def record_outlinks(session: Session, source_id: int, links: Counter[tuple[str, str]]) -> None:
    """Count the outlinks (target, kind) a crawl of the source saw."""
    now = utcnow()
    existing = {
        row.target: row
        for row in session.scalars(
            select(SourceLink).where(SourceLink.source_id == source_id, SourceLink.target.in_([t for t, _ in links]))
        )
    }
    for (target, kind), count in links.items():
        row = existing.get(target)
        if row is None:
            session.add(
                SourceLink(
                    source_id=source_id,
                    target=target[:512],
                    target_kind=SourceKind(kind),
                    seen_count=count,
                    first_seen_at=now,
                    last_seen_at=now,
                )
            )
        else:
            row.seen_count += count
            row.last_seen_at = now


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
        _audit(session, source, actor_id, "source.candidate_suggested",
               {"name": source.name, "discovered_from_id": source.discovered_from_id})
    return created


class Discovery(NamedTuple):
    changed_source_ids: list[int]
    candidates_created: list[Source]


def refresh_discovery(session: Session, settings: Settings, *, actor_id: int | None = None) -> Discovery:
    """Roll decisions up into every source's risk, then turn risky sources' outlinks into candidates."""
    changed = refresh_source_risk(session, settings, actor_id=actor_id)
    return Discovery(changed, suggest_candidates(session, settings, actor_id=actor_id))


def _address_permitted(url: str, policy: AddressPolicy) -> bool:
    try:
        check_source_address(url, policy)
    except AddressNotAllowed:
        return False
    return True


def accept_candidate(session: Session, source_id: int, actor_id: int, policy: AddressPolicy) -> Source:
    """Turn a candidate into a crawled source; AddressNotAllowed if its host is outside the policy
    (a candidate suggested before the policy, or a name that now resolves inside)."""
    source = _lock_candidate(session, source_id)
    check_source_address(source.url, policy)
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
    _audit(session, source, actor_id, action, {"name": source.name})


# --- shared -------------------------------------------------------------------------------------


def _lock_source(session: Session, source_id: int) -> Source:
    source = session.scalars(select(Source).where(Source.id == source_id).with_for_update()).one_or_none()
    if source is None:
        raise _source_not_found(source_id)
    return source


def _audit(session: Session, source: Source, actor_id: int | None, action: str, payload: dict[str, Any]) -> None:
    append_audit(session, actor_id=actor_id, action=action, entity_type="source", entity_id=source.id,
                 payload=payload)
