"""Takedown tracking: after escalation, each case's URL is re-checked until the content is gone.

A check is a GET whose body is never read (crawled sites are hostile: nothing of theirs is
parsed or run here). 404, 410 and 451 mean the content is offline at once. Network errors and
other statuses count as failures, and a streak of ``takedown_offline_after_failures`` of them
also means offline, dated from the streak's first failure: a site that is down for an hour is
not a takedown. A 2xx resets the streak. Private, loopback and link-local addresses are never
fetched unless ``takedown_allow_private_addresses`` (an item URL is crawled content too): each hop,
redirects included, is resolved once, checked, and connected to at the checked address.

Cases closed as "not illegal" or "duplicate", and cases already offline, are no longer checked.
"""

from __future__ import annotations

import ipaddress
import socket
import statistics
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from urllib.parse import urljoin, urlsplit, urlunsplit

import httpx
from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session, sessionmaker

from saqshy.db.models import Case, CaseOutcome, ContentItem, utcnow
from saqshy.db.session import session_scope
from saqshy.errors import NotFound
from saqshy.settings import Settings

OFFLINE_STATUS = frozenset({404, 410, 451})
NOT_CHECKED_OUTCOMES = (CaseOutcome.NOT_ILLEGAL, CaseOutcome.DUPLICATE)


def as_utc(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value


@dataclass(frozen=True)
class Probe:
    """What one check saw: ``online`` True/False, or None when it could not tell (a failure)."""

    online: bool | None
    result: str
    definitive: bool = False


MAX_REDIRECTS = 5
REDIRECT_STATUS = frozenset({301, 302, 303, 307, 308})


def resolve_host(host: str) -> list[str]:
    """The addresses ``host`` resolves to (a seam for tests: DNS is the only thing they replace)."""
    return [str(info[4][0]) for info in socket.getaddrinfo(host, None, proto=socket.IPPROTO_TCP)]


def is_fetchable_address(address: str) -> bool:
    return ipaddress.ip_address(address.split("%", 1)[0]).is_global


@dataclass(frozen=True)
class _Target:
    """Where one hop really goes: the URL with its host replaced by the checked address."""

    url: str
    headers: dict[str, str]
    extensions: dict[str, str]


def _pin(url: str, settings: Settings) -> _Target | str:
    """Resolve the URL's host once, refuse non-public addresses, and pin the connection to the
    address that was checked. The name is never resolved again for this hop, so a DNS answer that
    changes between the check and the connection (DNS rebinding) cannot reach a private address.
    Returns the reason as a string when the hop must not be fetched."""
    parts = urlsplit(url)
    try:
        host, port = parts.hostname, parts.port
    except ValueError as exc:  # a port that is not a number
        return f"not a valid URL: {exc}"
    if parts.scheme not in ("http", "https") or not host:
        return f"not an http(s) URL: {url[:200]}"
    if settings.takedown_allow_private_addresses:
        return _Target(url, {}, {})
    try:
        addresses = resolve_host(host)
    except (OSError, UnicodeError) as exc:
        return f"DNS: {exc}"
    if not addresses:
        return f"DNS: no address for {host}"
    for address in addresses:
        if not is_fetchable_address(address):
            return f"refused: {host} resolves to non-public address {address}"
    address = addresses[0]
    literal = f"[{address}]" if ":" in address else address
    netloc = f"{literal}:{port}" if port else literal
    pinned = urlunsplit((parts.scheme, netloc, parts.path or "/", parts.query, ""))
    host_header = f"{host}:{port}" if port else host
    # TLS still checks the certificate against the name, not the address (SNI = the host name).
    extensions = {"sni_hostname": host} if parts.scheme == "https" else {}
    return _Target(pinned, {"Host": host_header}, extensions)


def probe_url(url: str, settings: Settings, *, client: httpx.Client | None = None) -> Probe:
    """GET the URL (the body is never read), following at most MAX_REDIRECTS redirects by hand:
    every hop's host is resolved and checked before anything is sent to it."""
    own_client = client is None
    http = client or httpx.Client(
        timeout=settings.takedown_check_timeout_seconds,
        follow_redirects=False,
        headers={"User-Agent": f"SaqshyTakedownCheck (+{settings.crawler_contact_url})"},
    )
    try:
        for _hop in range(MAX_REDIRECTS + 1):
            target = _pin(url, settings)
            if isinstance(target, str):
                # Unresolvable names are failures (a deleted domain ends up offline after the
                # streak); a non-public address is never fetched at all.
                return Probe(None, target)
            try:
                request = http.build_request("GET", target.url, headers=target.headers, extensions=target.extensions)
                response = http.send(request, stream=True, follow_redirects=False)
                status, location = response.status_code, response.headers.get("location")
                response.close()
            except httpx.HTTPError as exc:
                return Probe(None, f"{type(exc).__name__}: {exc}"[:300])
            if status in REDIRECT_STATUS and location:
                url = urljoin(url, location)
                continue
            break
        else:
            return Probe(None, f"more than {MAX_REDIRECTS} redirects")
    finally:
        if own_client:
            http.close()
    if status in OFFLINE_STATUS:
        return Probe(False, f"HTTP {status}", definitive=True)
    if 200 <= status < 300:
        return Probe(True, f"HTTP {status}")
    return Probe(None, f"HTTP {status}")


def record_probe(session: Session, case: Case, probe: Probe, settings: Settings, *, at: datetime | None = None) -> bool:
    """Apply one check to the case; return whether the content is recorded offline by this check."""
    now = at or utcnow()
    case.check_count = (case.check_count or 0) + 1
    case.last_checked_at = now
    case.last_check_result = probe.result[:300]
    if case.offline_at is not None:
        return False
    if probe.online:
        case.consecutive_failures = 0
        case.first_failed_at = None
        return False
    if not case.consecutive_failures or case.first_failed_at is None:
        case.first_failed_at = now
    case.consecutive_failures = (case.consecutive_failures or 0) + 1
    if probe.definitive:
        case.offline_at = now
    elif case.consecutive_failures >= settings.takedown_offline_after_failures:
        case.offline_at = case.first_failed_at
    return case.offline_at is not None


def check_case(
    sessions: sessionmaker[Session], settings: Settings, case_id: int, *, client: httpx.Client | None = None
) -> Case | None:
    """Re-check one case's URL and record what was seen; returns the case, or None if not checked.

    Idempotent in effect: a case checked within the interval (a duplicate job) is left alone.
    """
    with session_scope(sessions) as session:
        case = session.get(Case, case_id)
        if case is None:
            raise NotFound(f"case {case_id} does not exist")
        if not _needs_check(case, settings, utcnow()):
            return None
        url = session.scalar(select(ContentItem.url).where(ContentItem.id == case.item_id))
    if url is None:
        return None
    probe = probe_url(url, settings, client=client)  # no transaction held during the request
    with session_scope(sessions) as session:
        case = session.scalars(select(Case).where(Case.id == case_id).with_for_update()).one()
        went_offline = record_probe(session, case, probe, settings)
        if went_offline:
            from triage_api.services.audit import append_audit

            append_audit(
                session,
                actor_id=None,
                action="case.offline",
                entity_type="case",
                entity_id=case.id,
                payload={"offline_at": str(case.offline_at), "check": case.last_check_result},
            )
        return case


def _needs_check(case: Case, settings: Settings, now: datetime) -> bool:
    if case.offline_at is not None or case.outcome in NOT_CHECKED_OUTCOMES:
        return False
    if case.last_checked_at is None:
        return True
    # Slightly early is fine: the sweep runs on its own period and should not skip a round.
    due = as_utc(case.last_checked_at) + timedelta(seconds=settings.takedown_check_interval_seconds * 0.9)
    return due <= now


def due_case_ids(session: Session, settings: Settings, *, now: datetime | None = None, limit: int = 500) -> list[int]:
    now = now or utcnow()
    cutoff = now - timedelta(seconds=settings.takedown_check_interval_seconds * 0.9)
    query = (
        select(Case.id)
        .where(
            Case.offline_at.is_(None),
            or_(Case.outcome.is_(None), Case.outcome.not_in(NOT_CHECKED_OUTCOMES)),
            or_(Case.last_checked_at.is_(None), Case.last_checked_at <= cutoff),
        )
        .order_by(Case.last_checked_at.is_not(None), Case.last_checked_at, Case.id)
        .limit(limit)
    )
    return list(session.scalars(query))


@dataclass(frozen=True)
class TakedownStats:
    cases: int
    offline: int
    share_offline: float
    median_hours_to_offline: float | None
    p90_hours_to_offline: float | None


def takedown_stats(session: Session) -> TakedownStats:
    """Share of escalated cases taken down, and how long it took (opening to offline)."""
    considered = select(Case.created_at, Case.offline_at).where(
        or_(Case.outcome.is_(None), Case.outcome.not_in(NOT_CHECKED_OUTCOMES))
    )
    total = session.scalar(select(func.count()).select_from(considered.subquery())) or 0
    hours = sorted(
        max(0.0, (as_utc(offline) - as_utc(created)).total_seconds() / 3600)
        for created, offline in session.execute(considered.where(Case.offline_at.is_not(None)))
        if offline is not None
    )
    p90 = None
    if hours:
        p90 = hours[0] if len(hours) == 1 else statistics.quantiles(hours, n=10, method="inclusive")[-1]
    return TakedownStats(
        cases=int(total),
        offline=len(hours),
        share_offline=len(hours) / total if total else 0.0,
        median_hours_to_offline=statistics.median(hours) if hours else None,
        p90_hours_to_offline=p90,
    )
