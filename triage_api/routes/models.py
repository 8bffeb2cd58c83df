"""The classifier's model registry (versions, metrics, PR curves, gate reports), the score
distribution per source over time, and the retraining loop, for the ML view of the review UI.

The registry is read through ``classifier.registry.Registry`` (``models_dir``). Promotion, rollback
and retraining go through the same service functions as the CLI (``classifier.promotion``,
``classifier.retrain``); only a promotion's gate loads models (the candidate and production).
"""

from __future__ import annotations

import json
from collections import defaultdict
from datetime import datetime, timedelta
from pathlib import Path
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, status
from fastapi.responses import FileResponse
from pydantic import BaseModel, Field
from sqlalchemy import select
from sqlalchemy.orm import Session

from classifier.errors import ModelNotFoundError, RegistryError
from classifier.registry import Registry
from saqshy.db.models import ContentItem, JobRecord, Role, Score, Source
from saqshy.errors import ErrorCode, NotFound, ServiceUnavailable
from saqshy.jobs import names
from saqshy.jobs.base import JobInfo
from saqshy.settings import Settings
from saqshy.timeutil import utcnow
from triage_api.deps import ContextDep, SessionDep, SettingsDep, require_roles
from triage_api.schemas.drift import DriftReportPublic
from triage_api.services.auth import Actor
from triage_api.services.drift import drift_report

router = APIRouter(prefix="/models", tags=["models"])

MLUser = Annotated[Actor, Depends(require_roles(Role.ML_ENGINEER, Role.ADMIN, Role.MODERATOR))]
MLEngineer = Annotated[Actor, Depends(require_roles(Role.ML_ENGINEER, Role.ADMIN))]
HISTOGRAM_BINS = 10
# classifier.model.OVERALL, the "any category" output; not imported because that module loads torch.
OVERALL = "illegal"
MAX_SCORE_ROWS = 500_000


class ModelVersionSummary(BaseModel):
    version: str
    created_at: str | None = None
    is_current: bool = Field(default=False, description="The production version")
    mode: str | None = None
    headline: str | None = None
    metrics: dict[str, Any] = Field(default_factory=dict, description="Overall held-out metrics (ROC-AUC, PR-AUC...)")


class ModelVersionDetail(ModelVersionSummary):
    pr_curves: dict[str, Any] = Field(
        default_factory=dict, description="{category: {precision: [...], recall: [...]}} when the version has them"
    )
    pr_curves_png: str | None = Field(default=None, description="Path of the registry's PR-curve image, if any")
    per_category: dict[str, Any] = Field(default_factory=dict)
    per_language: dict[str, Any] = Field(default_factory=dict)
    thresholds: dict[str, Any] = Field(default_factory=dict)
    test_examples: int | None = None


class ModelList(BaseModel):
    items: list[ModelVersionSummary]


class ScoreDistributionRow(BaseModel):
    source_id: int | None
    source_name: str
    day: str
    count: int
    mean: float
    histogram: list[int] = Field(description=f"{HISTOGRAM_BINS} equal bins of the score over [0, 1]")


class ScoreDistribution(BaseModel):
    bins: int
    items: list[ScoreDistributionRow]


class PromoteRequest(BaseModel):
    force: bool = Field(default=False, description="Promote even though the gate refuses it (needs a reason)")
    reason: str | None = Field(default=None, max_length=2000, description="Why; recorded in the audit log")


class RollbackRequest(BaseModel):
    reason: str | None = Field(default=None, max_length=2000, description="Why; recorded in the audit log")


class ProductionChangePublic(BaseModel):
    action: Literal["promote", "rollback"]
    version: str = Field(description="The production version now")
    previous: str | None = Field(description="The production version before")
    forced: bool = Field(description="Promoted although the gate refused it")
    gate_passed: bool | None = None
    gate_failures: list[str] = Field(default_factory=list)
    rescore_job: str | None = Field(default=None, description="Key of the job re-scoring the undecided items")


class RetrainRequest(BaseModel):
    mode: Literal["fast", "full"] = "fast"
    since: datetime | None = Field(default=None, description="Only decisions since then")


class RetrainJobPublic(BaseModel):
    key: str
    status: str = Field(description="queued, running, retrying, succeeded or failed (a cancelled job is failed)")
    stage: str | None = Field(default=None, description="export, train, gate, done")
    fraction: float | None = Field(default=None, description="Share done, 0-1")
    eta_seconds: float | None = None
    message: str | None = None
    result: dict[str, Any] = Field(default_factory=dict, description="dataset, version, gate_passed, gate_failures")
    cancel_requested: bool = False
    last_error: str | None = None
    enqueued_at: datetime
    started_at: datetime | None = None
    finished_at: datetime | None = None

    @classmethod
    def from_info(cls, info: JobInfo) -> RetrainJobPublic:
        progress = info.progress or {}
        return cls(
            key=info.key, status=info.status.value, stage=progress.get("stage"), fraction=progress.get("fraction"),
            eta_seconds=progress.get("eta_seconds"), message=progress.get("message"),
            result=progress.get("detail") or {}, cancel_requested=info.cancel_requested_at is not None,
            last_error=info.last_error.splitlines()[0] if info.last_error else None,
            enqueued_at=info.enqueued_at, started_at=info.started_at, finished_at=info.finished_at,
        )


def _registry(settings: Settings) -> Registry:
    return Registry(settings.models_dir)


def _overall(metrics: dict[str, Any]) -> dict[str, Any]:
    overall = metrics.get(OVERALL)
    return {k: v for k, v in overall.items() if not isinstance(v, dict | list)} if isinstance(overall, dict) else {}


def _read_json(path: Path) -> dict[str, Any]:
    try:
        loaded = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return loaded if isinstance(loaded, dict) else {}


def _version_path(registry: Registry, version: str) -> Path:
    try:
        return registry.path(version)  # validates the name: no path tricks reach the filesystem
    except (RegistryError, ModelNotFoundError) as exc:
        raise NotFound(str(exc), code=ErrorCode.MODEL_NOT_FOUND, params={"version": version}) from None


@router.get("", response_model=ModelList)
def list_models(settings: SettingsDep, _user: MLUser) -> ModelList:
    """Registry versions, newest first, with their overall held-out metrics. Roles: ml_engineer, moderator, admin."""
    try:
        versions = _registry(settings).list()
    except RegistryError as exc:
        raise ServiceUnavailable(str(exc)) from None
    items = [
        ModelVersionSummary(
            version=v.name,
            created_at=v.created_at or None,
            is_current=v.production,
            mode=v.mode or None,
            headline=v.headline or None,
            metrics=_overall(_read_json(v.path / "metrics.json")),
        )
        for v in reversed(versions)
    ]
    return ModelList(items=items)


@router.get("/score-distribution", response_model=ScoreDistribution)
def score_distribution(
    session: SessionDep,
    _user: MLUser,
    days: Annotated[int, Query(ge=1, le=365)] = 30,
    source_id: Annotated[int | None, Query(ge=1, le=2_147_483_647)] = None,
    model_version: Annotated[str | None, Query(max_length=100)] = None,
) -> ScoreDistribution:
    """Histogram of scores per source and day (by fetch date) over the last ``days`` days."""
    since = utcnow() - timedelta(days=days)
    query = (
        select(ContentItem.source_id, Source.name, ContentItem.fetched_at, Score.score)
        .join(ContentItem, ContentItem.id == Score.item_id)
        .outerjoin(Source, Source.id == ContentItem.source_id)
        .where(ContentItem.fetched_at >= since)
        .limit(MAX_SCORE_ROWS)
    )
    if source_id is not None:
        query = query.where(ContentItem.source_id == source_id)
    if model_version is not None:
        query = query.where(Score.model_version == model_version)
    groups: dict[tuple[int | None, str, str], list[float]] = defaultdict(list)
    for sid, name, fetched, score in session.execute(query):
        groups[(sid, name or "—", fetched.date().isoformat())].append(float(score or 0.0))
    rows = []
    for (sid, name, day), scores in sorted(groups.items(), key=lambda kv: (kv[0][1], kv[0][2])):
        histogram = [0] * HISTOGRAM_BINS
        for value in scores:
            histogram[min(HISTOGRAM_BINS - 1, max(0, int(value * HISTOGRAM_BINS)))] += 1
        rows.append(
            ScoreDistributionRow(
                source_id=sid, source_name=name, day=day, count=len(scores),
                mean=sum(scores) / len(scores), histogram=histogram,
            )
        )
    return ScoreDistribution(bins=HISTOGRAM_BINS, items=rows)


@router.get("/drift", response_model=DriftReportPublic)
def read_drift(
    ctx: ContextDep,
    session: SessionDep,
    _user: MLEngineer,
    days: Annotated[int, Query(ge=1, le=90)] = 30,
) -> DriftReportPublic:
    """The production model's daily score distributions per source and per language over the last
    ``days`` days, each with its PSI against the model's held-out reference and an alert flag.
    Roles: ml_engineer, admin."""
    return DriftReportPublic.model_validate(drift_report(ctx, session, days=days))


@router.post("/retrain", response_model=RetrainJobPublic, status_code=status.HTTP_202_ACCEPTED)
def start_retrain(body: RetrainRequest, ctx: ContextDep, session: SessionDep, _user: MLEngineer) -> RetrainJobPublic:
    """Enqueue retraining on the decisions: export, train, gate (never promotes). Roles: ml_engineer, admin."""
    from classifier.retrain import enqueue_retrain

    _release(session)
    key = enqueue_retrain(ctx, mode=body.mode, since=body.since.isoformat() if body.since else None)
    return RetrainJobPublic.from_info(_retrain_job(ctx.jobs.get(key), key))


@router.get("/retrain/{key}", response_model=RetrainJobPublic)
def read_retrain(key: str, session: SessionDep, _user: MLEngineer) -> RetrainJobPublic:
    """A retraining job's stage, progress, ETA and result. Roles: ml_engineer, admin."""
    record = session.scalars(select(JobRecord).where(JobRecord.key == key)).one_or_none()
    return RetrainJobPublic.from_info(_retrain_job(JobInfo.from_record(record) if record else None, key))


@router.post("/retrain/{key}/cancel", response_model=RetrainJobPublic)
def cancel_retrain(key: str, ctx: ContextDep, session: SessionDep, _user: MLEngineer) -> RetrainJobPublic:
    """Cancel a retraining job (a running one stops at its next progress report). Roles: ml_engineer, admin."""
    _release(session)
    _retrain_job(ctx.jobs.get(key), key)
    return RetrainJobPublic.from_info(ctx.jobs.cancel(key))


@router.post("/rollback", response_model=ProductionChangePublic)
def rollback_model(
    body: RollbackRequest, ctx: ContextDep, session: SessionDep, user: MLEngineer
) -> ProductionChangePublic:
    """Make the previous production version production again (audited). Roles: ml_engineer, admin."""
    from classifier import promotion

    _release(session)
    change = promotion.rollback(ctx, actor_id=user.id, reason=body.reason)
    return ProductionChangePublic.model_validate(change.to_dict())


def _release(session: Session) -> None:
    """End the request's transaction (it only authenticated the caller): the services below write in
    transactions of their own, which on SQLite would otherwise wait for this one's write lock."""
    session.commit()


def _retrain_job(info: JobInfo | None, key: str) -> JobInfo:
    if info is None or info.name != names.RETRAIN:
        raise NotFound(f"no retraining job {key!r}", code=ErrorCode.RETRAIN_JOB_NOT_FOUND)
    return info


@router.get("/{version}", response_model=ModelVersionDetail)
def read_model(version: str, settings: SettingsDep, _user: MLUser) -> ModelVersionDetail:
    """One version: per-category and per-language metrics, PR curves. Roles: ml_engineer, moderator, admin."""
    registry = _registry(settings)
    path = _version_path(registry, version)
    try:
        shown = registry.show(version)
    except RegistryError as exc:
        raise ServiceUnavailable(str(exc)) from None
    metrics: dict[str, Any] = shown.get("metrics") or {}
    data: dict[str, Any] = shown.get("data") or {}
    spec: dict[str, Any] = shown.get("spec") or {}
    # PR-curve points, when training wrote them; otherwise the registry's own image.
    curves = _read_json(path / "pr_curves.json") or metrics.get("pr_curves") or {}
    return ModelVersionDetail(
        version=version,
        created_at=str(data.get("created_at") or "") or None,
        is_current=bool(shown.get("production")),
        mode=str(spec.get("mode") or "") or None,
        headline=str(metrics.get("headline") or "") or None,
        metrics=_overall(metrics),
        pr_curves=curves if isinstance(curves, dict) else {},
        pr_curves_png=f"/models/{version}/pr-curves.png" if (path / "pr_curves.png").is_file() else None,
        per_category=dict(metrics.get("categories") or {}),
        per_language=dict(metrics.get("languages") or {}),
        thresholds=dict(shown.get("thresholds") or {}),
        test_examples=metrics.get("test_examples") if isinstance(metrics.get("test_examples"), int) else None,
    )


@router.get(
    "/{version}/pr-curves.png",
    response_class=FileResponse,
    responses={200: {"content": {"image/png": {}}, "description": "The registry's PR-curve image"}},
)
def read_pr_curves_image(version: str, settings: SettingsDep, _user: MLUser) -> FileResponse:
    """The PR-curve image training saved with the version. Roles: ml_engineer, moderator, admin."""
    image = _version_path(_registry(settings), version) / "pr_curves.png"
    if not image.is_file():
        raise NotFound(f"model version {version!r} has no PR-curve image", code=ErrorCode.PR_CURVES_MISSING,
                       params={"version": version})
    return FileResponse(image, media_type="image/png")


@router.get("/{version}/gate", response_model=dict[str, Any])
def read_gate_report(version: str, settings: SettingsDep, _user: MLUser) -> dict[str, Any]:
    """The version's last gate report against production: checks, per-language and per-category
    ROC-AUC, PR-curve points, the held-out items whose decision would flip. Roles: ml_engineer,
    moderator, admin."""
    report = _read_json(_version_path(_registry(settings), version) / "gate.json")
    if not report:
        raise NotFound(f"model version {version!r} has no gate report yet (promote it, or `saqshy model gate`)",
                       code=ErrorCode.GATE_REPORT_MISSING, params={"version": version})
    return report


@router.post("/{version}/promote", response_model=ProductionChangePublic)
def promote_model(
    version: str, body: PromoteRequest, ctx: ContextDep, session: SessionDep, user: MLEngineer
) -> ProductionChangePublic:
    """Make a version production if it passes the gate (or force it with a reason); audited;
    re-scoring of undecided items is enqueued. Roles: ml_engineer, admin."""
    from classifier import promotion

    _release(session)
    _version_path(_registry(ctx.settings), version)
    change = promotion.promote(ctx, version, actor_id=user.id, force=body.force, reason=body.reason)
    return ProductionChangePublic.model_validate(change.to_dict())
