"""Sources to crawl: add, list, pick the due ones, record outlinks, surface candidates.

A source's recrawl interval shortens with its risk score, and the outlinks of risky sources
become candidate sources (disabled until a moderator accepts them): both rules belong to the
triage service (``triage_api.services.sources``), which rolls decisions up into risk; the
crawlers record the outlinks and call it after each crawl.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from urllib.parse import urlsplit

from sqlalchemy import select
from sqlalchemy.orm import Session

from crawlers.extraction.canonical import host_of
from crawlers.extraction.telegram import channel_from_url
from saqshy.db.models import Source, SourceKind, SourceLink
from saqshy.errors import Conflict, ErrorCode, InvalidInput, NotFound
from saqshy.netpolicy import AddressPolicy, refuse_credentials
from saqshy.settings import Settings
from saqshy.timeutil import as_utc, utcnow

_INTERVAL = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhdw]?)\s*$", re.IGNORECASE)
_UNITS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


# How far back a Telegram crawl reads a channel when its source sets no ``read_back``: the
# preview pages go back to the channel's first post, and a busy channel has years of them.
# The spider's item limit (``max_items``, 1000 by default) bounds a crawl as well.
TELEGRAM_READ_BACK_DEFAULT = "90d"


def _read_back_since(value: str, now: datetime) -> datetime | None:
    text = value.strip()
    if text.lower() == "all":
        return None
    match = _INTERVAL.match(text)
    if match:
        return now - timedelta(seconds=float(match.group(1)) * _UNITS[match.group(2).lower()])
    try:
        since = datetime.fromisoformat(text)
    except ValueError:
        raise InvalidInput(
            f"not a read-back limit: {value!r} (an interval such as 30d or 12h, a date such as 2024-01-31, or all)"
        ) from None
    return since if since.tzinfo is not None else since.replace(tzinfo=UTC)


def telegram_until(source: Source, now: datetime | None = None) -> datetime | None:
    """The oldest post date a crawl of this Telegram source reads (None: no date limit).

    ``settings["read_back"]`` is an interval (that far back from each crawl), a fixed date, or
    ``all``; a source without it reads back ``TELEGRAM_READ_BACK_DEFAULT``.
    """
    value = (source.settings or {}).get("read_back") or TELEGRAM_READ_BACK_DEFAULT
    return _read_back_since(str(value), now or utcnow())


def parse_interval(value: str | int) -> int:
    """Seconds from ``90``, ``30m``, ``6h``, ``1d``, ``2w``."""
    if isinstance(value, int):
        seconds = value
    else:
        match = _INTERVAL.match(value)
        if not match:
            raise InvalidInput(f"not an interval: {value!r} (use e.g. 30m, 6h, 1d)")
        seconds = int(float(match.group(1)) * _UNITS[match.group(2).lower()])
    if seconds < 60:
        raise InvalidInput(f"crawl interval must be at least a minute, got {seconds}s")
    return seconds


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
    try:
        kind = SourceKind(kind)
    except ValueError:
        raise InvalidInput(f"unknown source kind {kind!r} (site, telegram, feed, forum)") from None
    settings: dict[str, str] = {}
    if read_back is not None:
        if kind != SourceKind.TELEGRAM:
            raise InvalidInput("a read-back limit applies to Telegram sources only",
                               code=ErrorCode.READ_BACK_TELEGRAM_ONLY)
        _read_back_since(read_back, utcnow())  # refused now, not at the first crawl
        settings["read_back"] = read_back.strip()
    if depth < 0 or depth > 20:
        raise InvalidInput(f"depth must be between 0 and 20, got {depth}")
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


def set_read_back(session: Session, name: str, read_back: str) -> Source:
    """Change how far back each crawl of a Telegram source reads (``30d``, a date, ``all``)."""
    source = resolve_sources(session, [name])[0]
    if source.kind != SourceKind.TELEGRAM:
        raise InvalidInput("a read-back limit applies to Telegram sources only", code=ErrorCode.READ_BACK_TELEGRAM_ONLY)
    _read_back_since(read_back, utcnow())
    source.settings = {**(source.settings or {}), "read_back": read_back.strip()}
    return source


def list_sources(session: Session, *, candidates: bool | None = None) -> list[Source]:
    query = select(Source).order_by(Source.id)
    if candidates is not None:
        query = query.where(Source.is_candidate.is_(candidates))
    return list(session.scalars(query))


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


def due_sources(session: Session, now: datetime | None = None) -> list[Source]:
    now = now or utcnow()
    sources = session.scalars(
        select(Source)
        .where(Source.enabled.is_(True), Source.is_candidate.is_(False))
        .order_by(Source.risk_score.desc(), Source.id)
    )
    return [s for s in sources if s.next_crawl_at is None or as_utc(s.next_crawl_at) <= now]


def effective_interval(source: Source, settings: Settings) -> int:
    """The recrawl interval given the source's risk; the triage service owns the formula."""
    from triage_api.services.sources import recrawl_interval_seconds

    return recrawl_interval_seconds(source, settings)


def mark_crawled(session: Session, source_id: int, settings: Settings, when: datetime | None = None) -> None:
    source = session.get(Source, source_id)
    if source is None:
        return
    when = when or utcnow()
    source.last_crawled_at = when
    source.next_crawl_at = when + timedelta(seconds=effective_interval(source, settings))


def refresh_discovery(session: Session, settings: Settings) -> tuple[list[int], int]:
    """After a crawl: roll decisions up into risk scores and turn risky sources' outlinks into
    candidate sources (both owned by the triage service). Returns (sources whose risk changed,
    candidates added)."""
    from triage_api.services.sources import refresh_source_risk, suggest_candidates

    changed = refresh_source_risk(session, settings)
    return changed, len(suggest_candidates(session, settings))


def record_outlinks(session: Session, source_id: int, links: Counter[tuple[str, str]]) -> None:
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
