"""Promotion and rollback of the production model: the one code path the CLI and the API share.

A promotion runs the gate (classifier.gate) and refuses a candidate that fails it, unless forced
with a reason. Promotions, forced ones and rollbacks are audited, and each enqueues re-scoring of the
items nobody has decided yet (``classifier.rescore_undecided``), so the queue reflects the new model.
The audit entry is committed before the production pointer moves: no unaudited promotion.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from sqlalchemy import select

from classifier.errors import PromotionRefused
from classifier.registry import Registry
from saqshy.db.models import ContentItem, ReviewTask, TaskStatus
from saqshy.db.session import session_scope
from saqshy.errors import ErrorCode, InvalidInput
from saqshy.jobs import names
from saqshy.jobs.registry import job
from triage_api.services.audit import append_audit

if TYPE_CHECKING:
    from saqshy.context import Context

logger = logging.getLogger(__name__)

RESCORE_JOB = names.RESCORE_UNDECIDED
MAX_REASON_CHARS = 2000
RESCORE_PAGE = 5000


@dataclass(frozen=True)
class ProductionChange:
    action: str  # promote | rollback
    version: str
    previous: str | None
    forced: bool = False
    gate: dict[str, Any] = field(default_factory=dict)
    rescore_job: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "action": self.action,
            "version": self.version,
            "previous": self.previous,
            "forced": self.forced,
            "gate_passed": self.gate.get("passed"),
            "gate_failures": self.gate.get("failures", []),
            "rescore_job": self.rescore_job,
        }


def _clean_reason(reason: str | None) -> str | None:
    reason = (reason or "").strip() or None
    if reason is not None and len(reason) > MAX_REASON_CHARS:
        raise InvalidInput(f"the reason is at most {MAX_REASON_CHARS} characters", code=ErrorCode.REASON_TOO_LONG,
                           params={"max": MAX_REASON_CHARS})
    return reason


def _audit(ctx: Context, actor_id: int | None, change: ProductionChange, reason: str | None) -> None:
    with session_scope(ctx.sessions) as session:
        append_audit(session, actor_id=actor_id, action=f"model.{change.action}", entity_type="model",
                     entity_id=change.version[:64], payload={**change.to_dict(), "reason": reason})


def promote(ctx: Context, version: str, *, actor_id: int | None, force: bool = False,
            reason: str | None = None) -> ProductionChange:
    """Make ``version`` production if it passes the gate (or ``force`` with a ``reason``)."""
    from classifier.gate import run_gate

    reason = _clean_reason(reason)
    if force and reason is None:
        raise InvalidInput("forcing a promotion past the gate needs a reason", code=ErrorCode.FORCE_NEEDS_REASON)
    registry = Registry(ctx.settings.models_dir)
    registry.path(version)
    previous = registry.production()
    if previous == version:
        raise PromotionRefused(f"{version} is already production", code=ErrorCode.MODEL_ALREADY_PRODUCTION,
                               params={"version": version})
    report = run_gate(ctx.settings, version)
    if not report["passed"] and not force:
        raise PromotionRefused(
            f"{version} fails the gate against {previous}: {', '.join(report['failures'])} "
            f"(report: models/{version}/gate.json). Promote anyway only with force and a reason.",
            code=ErrorCode.GATE_FAILED, params={"version": version, "failures": ", ".join(report["failures"])},
        )
    change = ProductionChange("promote", version, previous, forced=not report["passed"], gate=report)
    _audit(ctx, actor_id, change, reason)
    registry.promote(version)
    return _with_rescore(ctx, change)


def rollback(ctx: Context, *, actor_id: int | None, reason: str | None = None) -> ProductionChange:
    """Make the previous production version production again (no gate: it was production before)."""
    reason = _clean_reason(reason)
    registry = Registry(ctx.settings.models_dir)
    target = registry.previous()
    change = ProductionChange("rollback", target, registry.production())
    _audit(ctx, actor_id, change, reason)
    registry.rollback()
    return _with_rescore(ctx, change)


def _with_rescore(ctx: Context, change: ProductionChange) -> ProductionChange:
    logger.info("model %s: %s is production (was %s)", change.action, change.version, change.previous)
    try:
        key = ctx.jobs.enqueue(RESCORE_JOB, {"version": change.version}, key=f"rescore:{change.version}"[:200],
                               force=True)
    except Exception:  # the promotion stands; re-scoring can be enqueued again
        logger.exception("could not enqueue re-scoring for %s", change.version)
        key = None
    return ProductionChange(change.action, change.version, change.previous, change.forced, change.gate, key)


def undecided_item_ids(ctx: Context, after_id: int = 0, limit: int = RESCORE_PAGE) -> list[int]:
    """Text items no decision covers yet (no task, or an open one), in id order."""
    settled = select(ReviewTask.item_id).where(ReviewTask.status.in_([TaskStatus.DECIDED, TaskStatus.CANCELLED]))
    query = (
        select(ContentItem.id)
        .where(ContentItem.id > after_id, ContentItem.is_binary.is_(False), ContentItem.id.not_in(settled))
        .order_by(ContentItem.id)
        .limit(limit)
    )
    with session_scope(ctx.sessions) as session:
        return list(session.scalars(query))


@job(RESCORE_JOB, max_attempts=3, timeout=600)
def rescore_undecided(ctx: Context, version: str) -> dict[str, Any]:
    """Enqueue ``score_items`` for every undecided item (they score with whatever is production then)."""
    from classifier.jobs import enqueue_scoring

    production = Registry(ctx.settings.models_dir).production()
    if production != version:
        return {"skipped": f"{version} is no longer production ({production})"}
    after, jobs, items = 0, 0, 0
    while ids := undecided_item_ids(ctx, after):
        jobs += len(enqueue_scoring(ctx, ids, model_version=version))
        items += len(ids)
        after = ids[-1]
    return {"items": items, "jobs": jobs}
