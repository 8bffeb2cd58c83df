"""Delivery of new cases to a configured police endpoint (optional: ``SAQSHY_POLICE_WEBHOOK_URL``).

Each case gets one ``webhook_deliveries`` row, written in the transaction that seals its
evidence bundle (so the body carries the bundle's SHA-256), with its JSON body frozen and an
idempotency key (``saqshy-case-<id>``) that every retry repeats, so the receiver can drop a
duplicate and never opens a second case. The job
``webhooks.deliver`` sends it after commit; a failure is retried by the jobs port with
exponential backoff, and after ``police_webhook_max_attempts`` the row is ``failed`` with its
last error, listed for admins (``GET /cases/webhook-deliveries?status=failed``) who can retry it.

The request::

    POST <url>
    Content-Type: application/json
    Idempotency-Key: saqshy-case-<id>
    X-Saqshy-Event: case.opened
    X-Saqshy-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>

The timestamp is signed with the body so a captured request cannot be replayed later.

The endpoint is held to the outbound address policy (``saqshy.netpolicy``): a private address is
refused unless its range is in ``SAQSHY_CRAWLER_ALLOWED_NETWORKS`` (an intranet endpoint), and the
request is pinned to the address that was checked. A plain-http endpoint is sent to, with a
warning in the log: the case data and its signature would cross the network unencrypted.

Errors::

    saqshy.errors.SaqshyError
    └── DeliveryFailed          one attempt failed (network, 5xx, 408, 429): retried
        └── PermanentJobError   retrying cannot help (other 4xx, no secret, attempts used up)
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import httpx
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from saqshy.db.models import Case, ContentItem, WebhookDelivery, WebhookStatus
from saqshy.db.session import session_scope
from saqshy.errors import InvalidInput, InvalidTransition, NotFound, SaqshyError
from saqshy.jobs import names
from saqshy.jobs.base import enqueue_after_commit
from saqshy.netpolicy import HostUnresolvable, PinnedRequest, pin_url
from saqshy.settings import Settings
from saqshy.timeutil import iso, utcnow

logger = logging.getLogger(__name__)
# Endpoints already warned about in this process: once is enough, every retry would be noise.
_warned_plain_http: set[str] = set()

EVENT_CASE_OPENED = "case.opened"
JOB_DELIVER = names.WEBHOOK_DELIVER
RETRYABLE_STATUS = frozenset({408, 425, 429})
SIGNATURE_TOLERANCE_SECONDS = 300


class DeliveryFailed(SaqshyError):
    """One delivery attempt failed; the jobs port retries it with backoff."""


def _permanent(message: str) -> SaqshyError:
    from saqshy.jobs.base import PermanentJobError

    return PermanentJobError(message)


def max_delivery_attempts(settings: Settings) -> int:
    """The delivery job's retry policy: as many attempts as the operator allows the endpoint."""
    return settings.police_webhook_max_attempts


def idempotency_key(case_id: int) -> str:
    return f"saqshy-case-{case_id}"


def delivery_job_key(delivery_id: int) -> str:
    return f"{JOB_DELIVER}:{delivery_id}"


def case_payload(session: Session, case: Case) -> dict[str, Any]:
    """What the police endpoint receives: enough to open its own case and fetch the bundle."""
    item = session.get(ContentItem, case.item_id)
    return {
        "event": EVENT_CASE_OPENED,
        "idempotency_key": idempotency_key(case.id),
        "case": {
            "id": case.id,
            "category": case.category,
            "opened_at": iso(case.created_at),
            "evidence_sha256": case.evidence_sha256,
            "evidence_path": f"/cases/{case.id}/evidence",
        },
        "item": None
        if item is None
        else {
            "url": item.url,
            "fetched_at": iso(item.fetched_at),
            "sha256": item.sha256,
            "server_ip": item.server_ip,
            "language": item.language,
        },
    }


def create_delivery(session: Session, case: Case, settings: Settings) -> WebhookDelivery | None:
    """Record the case's delivery (none when no police endpoint is configured); idempotent per case."""
    if not settings.police_webhook_url:
        return None
    key = idempotency_key(case.id)
    existing = session.scalars(select(WebhookDelivery).where(WebhookDelivery.idempotency_key == key)).one_or_none()
    if existing is not None:
        return existing
    body = json.dumps(case_payload(session, case), ensure_ascii=False, sort_keys=True, separators=(",", ":"))
    delivery = WebhookDelivery(
        case_id=case.id,
        event=EVENT_CASE_OPENED,
        url=settings.police_webhook_url,
        idempotency_key=key,
        body=body,
        status=WebhookStatus.PENDING,
        attempts=0,
        created_at=utcnow(),
    )
    session.add(delivery)
    session.flush()
    enqueue_after_commit(session, JOB_DELIVER, {"delivery_id": delivery.id}, key=delivery_job_key(delivery.id))
    return delivery


def sign(secret: str, timestamp: int, body: bytes) -> str:
    mac = hmac.new(secret.encode("utf-8"), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={mac}"


def verify_signature(
    secret: str, header: str, body: bytes, *, now: float | None = None, tolerance: int = SIGNATURE_TOLERANCE_SECONDS
) -> bool:
    """What a receiver runs: the signature matches and is recent."""
    try:
        parts = dict(part.split("=", 1) for part in header.split(","))
        timestamp = int(parts["t"])
        expected = sign(secret, timestamp, body)
    except (KeyError, ValueError):
        return False
    current = time.time() if now is None else now
    return abs(current - timestamp) <= tolerance and hmac.compare_digest(expected, header)


@dataclass(frozen=True)
class _Message:
    """A pending delivery's request, read before any request is made."""

    url: str
    body: bytes
    key: str
    event: str


@dataclass(frozen=True)
class _Attempt:
    """What one attempt got: the answer's status, or the error and whether a retry could fix it."""

    status_code: int | None = None
    error: str | None = None
    permanent: bool = False


def deliver(
    sessions: sessionmaker[Session], settings: Settings, delivery_id: int, *, client: httpx.Client | None = None
) -> WebhookStatus:
    """Make one attempt. No transaction is held while the request is in flight."""
    message = _pending_message(sessions, delivery_id)
    if not isinstance(message, _Message):
        return message  # delivered already, or given up: a late duplicate job does nothing
    attempt = _attempt(message, settings, client)
    return _record_attempt(sessions, settings, delivery_id, attempt)


def _pending_message(sessions: sessionmaker[Session], delivery_id: int) -> _Message | WebhookStatus:
    """The delivery's request while it is pending, otherwise its status."""
    with session_scope(sessions) as session:
        delivery = session.get(WebhookDelivery, delivery_id)
        if delivery is None:
            raise _permanent(f"webhook delivery {delivery_id} does not exist")
        if delivery.status != WebhookStatus.PENDING:
            return delivery.status
        return _Message(delivery.url, delivery.body.encode("utf-8"), delivery.idempotency_key, delivery.event)


def _attempt(message: _Message, settings: Settings, client: httpx.Client | None) -> _Attempt:
    secret = settings.police_webhook_secret.get_secret_value() if settings.police_webhook_secret else ""
    if not secret:
        return _Attempt(error="SAQSHY_POLICE_WEBHOOK_SECRET is not set: refusing to send an unsigned webhook",
                        permanent=True)
    try:
        target = endpoint(message.url, settings)
    except HostUnresolvable as exc:
        return _Attempt(error=str(exc))  # DNS may come back: retried
    except InvalidInput as exc:
        return _Attempt(error=str(exc), permanent=True)
    return _post(target, message, secret, settings, client)


def _post(
    target: PinnedRequest, message: _Message, secret: str, settings: Settings, client: httpx.Client | None
) -> _Attempt:
    """Send the signed request to the pinned endpoint."""
    headers = {
        "Content-Type": "application/json",
        "Idempotency-Key": message.key,
        "X-Saqshy-Event": message.event,
        "X-Saqshy-Signature": sign(secret, int(time.time()), message.body),
        "User-Agent": f"Saqshy-Webhook (+{settings.crawler_contact_url})",
    }
    own_client = client is None
    http = client or httpx.Client(timeout=settings.police_webhook_timeout_seconds, follow_redirects=False)
    try:
        response = http.post(
            target.url, content=message.body, headers={**headers, **target.headers}, extensions=target.extensions
        )
        status_code = response.status_code
        if not 200 <= status_code < 300:
            permanent = 400 <= status_code < 500 and status_code not in RETRYABLE_STATUS
            return _Attempt(status_code, f"HTTP {status_code}: {response.text[:300]}", permanent)
        return _Attempt(status_code)
    except httpx.HTTPError as exc:
        return _Attempt(error=f"{type(exc).__name__}: {exc}"[:500])
    finally:
        if own_client:
            http.close()


def _record_attempt(
    sessions: sessionmaker[Session], settings: Settings, delivery_id: int, attempt: _Attempt
) -> WebhookStatus:
    """Count the attempt on the delivery; a failed one raises, to be retried or given up."""
    error = attempt.error
    with session_scope(sessions) as session:
        delivery = session.scalars(
            select(WebhookDelivery).where(WebhookDelivery.id == delivery_id).with_for_update()
        ).one()
        if delivery.status != WebhookStatus.PENDING:
            return delivery.status
        delivery.attempts += 1
        delivery.last_attempt_at = utcnow()
        delivery.last_status_code = attempt.status_code
        if error is None:
            delivery.status = WebhookStatus.DELIVERED
            delivery.delivered_at = delivery.last_attempt_at
            delivery.last_error = None
            return WebhookStatus.DELIVERED
        delivery.last_error = error
        used_up = delivery.attempts >= settings.police_webhook_max_attempts
        if attempt.permanent or used_up:
            delivery.status = WebhookStatus.FAILED
        attempts = delivery.attempts
    if attempt.permanent or used_up:
        raise _permanent(f"webhook delivery {delivery_id} failed after {attempts} attempt(s): {error}")
    raise DeliveryFailed(f"webhook delivery {delivery_id} attempt {attempts} failed: {error}")


def endpoint(url: str, settings: Settings) -> PinnedRequest:
    """The police endpoint, checked against the address policy and pinned; warns once about plain http."""
    target = pin_url(url, settings.address_policy)
    if urlsplit(url).scheme == "http" and url not in _warned_plain_http:
        _warned_plain_http.add(url)
        logger.warning(
            "the police webhook %s is plain http: case data and its signature cross the network unencrypted; "
            "use an https URL",
            urlsplit(url).netloc.rpartition("@")[2],
        )
    return target


def list_deliveries(
    session: Session,
    *,
    status: WebhookStatus | None = None,
    case_id: int | None = None,
    offset: int = 0,
    limit: int = 50,
) -> tuple[list[WebhookDelivery], int]:
    query = select(WebhookDelivery)
    if status is not None:
        query = query.where(WebhookDelivery.status == status)
    if case_id is not None:
        query = query.where(WebhookDelivery.case_id == case_id)
    total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
    rows = session.scalars(query.order_by(WebhookDelivery.id.desc()).offset(offset).limit(limit))
    return list(rows), int(total)


def reset_for_retry(session: Session, delivery_id: int, actor_id: int) -> WebhookDelivery:
    """Give a failed delivery a fresh set of attempts (the job is queued after commit)."""
    from triage_api.services.audit import append_audit

    delivery = session.scalars(
        select(WebhookDelivery).where(WebhookDelivery.id == delivery_id).with_for_update()
    ).one_or_none()
    if delivery is None:
        raise NotFound(f"webhook delivery {delivery_id} does not exist")
    if delivery.status != WebhookStatus.FAILED:
        raise InvalidTransition(f"webhook delivery {delivery_id} is {delivery.status}; only a failed one is retried")
    delivery.status = WebhookStatus.PENDING
    delivery.attempts = 0
    session.flush()
    enqueue_after_commit(session, JOB_DELIVER, {"delivery_id": delivery.id}, key=delivery_job_key(delivery.id))
    append_audit(
        session,
        actor_id=actor_id,
        action="webhook.retried",
        entity_type="webhook_delivery",
        entity_id=delivery.id,
        payload={"case_id": delivery.case_id, "last_error": delivery.last_error},
    )
    return delivery


def pending_delivery_ids(session: Session, *, limit: int = 1000) -> Sequence[int]:
    return list(
        session.scalars(
            select(WebhookDelivery.id)
            .where(WebhookDelivery.status == WebhookStatus.PENDING)
            .order_by(WebhookDelivery.id)
            .limit(limit)
        )
    )
