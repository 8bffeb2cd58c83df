"""Takedown tracking: after escalation, each case's URL is re-checked until the content is gone.

A check is a GET whose body is never read (crawled sites are hostile: nothing of theirs is
parsed or run here). 404, 410 and 451 mean the content is offline at once. Network errors and
other statuses count as failures, and a streak of ``takedown_offline_after_failures`` of them
also means offline, dated from the streak's first failure: a site that is down for an hour is
not a takedown. A 2xx resets the streak. An item URL is crawled content too: each hop, redirects
included, is resolved once, checked against the address policy (``saqshy.netpolicy``: public
addresses and ``crawler_allowed_networks``), and connected to at the checked address.

Cases closed as "not illegal" or "duplicate", and cases already offline, are no longer checked.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass
from datetime import datetime, timedelta
from urllib.parse import urljoin

import httpx
from pydantic import BaseModel, ConfigDict
from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session, sessionmaker

from saqshy.db.models import Case, CaseOutcome, ContentItem
from saqshy.db.session import session_scope
from saqshy.errors import InvalidInput, NotFound
from saqshy.netpolicy import pin_url
from saqshy.settings import Settings
from saqshy.timeutil import as_utc, utcnow

OFFLINE_STATUS = frozenset({404, 410, 451})
NOT_CHECKED_OUTCOMES = (CaseOutcome.NOT_ILLEGAL, CaseOutcome.DUPLICATE)


@dataclass(frozen=True)
class Probe:
    """What one check saw: ``online`` True/False, or None when it could not tell (a failure)."""

    online: bool | None
    result: str
    definitive: bool = False


MAX_REDIRECTS = 5
REDIRECT_STATUS = frozenset({301, 302, 303, 307, 308})


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
            try:
                target = pin_url(url, settings.address_policy)
            except InvalidInput as exc:
                # Unresolvable names are failures (a deleted domain ends up offline after the
                # streak); an address outside the policy is never fetched at all.
                return Probe(None, str(exc))
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


class TakedownStats(BaseModel):
    model_config = ConfigDict(frozen=True)

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
