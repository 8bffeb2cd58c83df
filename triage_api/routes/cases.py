"""Cases for the police, their evidence, webhook deliveries, volunteer outcomes, training labels
and their coverage per category and language.

``router`` bundles two routers: ``/cases`` and ``/labels``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Response

from saqshy.db.models import CaseOutcome, CaseStatus, ContentItem, Role, WebhookStatus
from saqshy.timeutil import as_utc
from triage_api.deps import CurrentUser, SessionDep, SettingsDep, require_roles
from triage_api.schemas.cases import (
    CaseDetail,
    CasePublic,
    OutcomeUpdate,
    TrainingLabelPublic,
    TrainingLabelsPublic,
    VolunteerOutcomePublic,
    WebhookDeliveryPublic,
)
from triage_api.schemas.common import IdPath, LimitParam, OffsetParam, Page
from triage_api.schemas.convert import case_member_public
from triage_api.schemas.labels import LabelCountPublic, LabelCoveragePublic
from triage_api.services import cases as cases_service
from triage_api.services import evidence, label_coverage, reposts, webhooks
from triage_api.services.auth import Actor

CASE_READERS = (Role.POLICE, Role.MODERATOR, Role.ADMIN)
POLICE = (Role.POLICE, Role.ADMIN)
VOTERS = (Role.VOLUNTEER, Role.MODERATOR, Role.ADMIN)

MAX_ID = 2_147_483_647

cases_router = APIRouter(prefix="/cases", tags=["cases"])
labels_router = APIRouter(prefix="/labels", tags=["labels"])


@cases_router.get("", response_model=Page[CasePublic], dependencies=[Depends(require_roles(*CASE_READERS))])
def list_cases(
    session: SessionDep,
    status: CaseStatus | None = None,
    outcome: CaseOutcome | None = None,
    category: Annotated[str | None, Query(max_length=64)] = None,
    offset: OffsetParam = 0,
    limit: LimitParam = 50,
) -> Page[CasePublic]:
    """Cases, newest first. Roles: police, moderator, admin."""
    rows, count = cases_service.list_cases(
        session, status=status, outcome=outcome, category=category, offset=offset, limit=limit
    )
    return Page(items=[CasePublic.model_validate(row) for row in rows], total=count, offset=offset, limit=limit)


@cases_router.get(
    "/evidence-public-key",
    response_class=Response,
    responses={200: {"content": {"application/x-pem-file": {}}, "description": "Ed25519 public key (PEM)"}},
    dependencies=[Depends(require_roles(*Role))],
)
def evidence_public_key(settings: SettingsDep) -> Response:
    """The key that verifies evidence bundles (``saqshy evidence verify FILE.zip --public-key``). Roles: all."""
    return Response(
        content=evidence.public_key_pem(settings),
        media_type="application/x-pem-file",
        headers={"Content-Disposition": 'attachment; filename="saqshy-evidence-public-key.pem"'},
    )


@cases_router.get(
    "/outcomes/mine", response_model=Page[VolunteerOutcomePublic], dependencies=[Depends(require_roles(*VOTERS))]
)
def my_case_outcomes(
    session: SessionDep, user: CurrentUser, offset: OffsetParam = 0, limit: LimitParam = 50
) -> Page[VolunteerOutcomePublic]:
    """What became of the cases the caller helped confirm. Roles: volunteer, moderator, admin."""
    rows, count = cases_service.volunteer_outcomes(session, user.id, offset=offset, limit=limit)
    return Page(
        items=[VolunteerOutcomePublic.model_validate(row) for row in rows], total=count, offset=offset, limit=limit
    )


@cases_router.get(
    "/webhook-deliveries", response_model=Page[WebhookDeliveryPublic], dependencies=[Depends(require_roles(*POLICE))]
)
def list_webhook_deliveries(
    session: SessionDep,
    status: WebhookStatus | None = None,
    case_id: Annotated[int | None, Query(ge=1, le=MAX_ID)] = None,
    offset: OffsetParam = 0,
    limit: LimitParam = 50,
) -> Page[WebhookDeliveryPublic]:
    """Deliveries to the police endpoint (``status=failed``: the ones that gave up). Roles: police, admin."""
    rows, count = webhooks.list_deliveries(session, status=status, case_id=case_id, offset=offset, limit=limit)
    return Page(
        items=[WebhookDeliveryPublic.model_validate(row) for row in rows], total=count, offset=offset, limit=limit
    )


@cases_router.post("/webhook-deliveries/{delivery_id}/retry", response_model=WebhookDeliveryPublic)
def retry_webhook_delivery(
    delivery_id: IdPath,
    session: SessionDep,
    user: Annotated[Actor, Depends(require_roles(Role.ADMIN))],
) -> WebhookDeliveryPublic:
    """Send a failed delivery again, with a fresh set of attempts. Roles: admin."""
    return WebhookDeliveryPublic.model_validate(webhooks.reset_for_retry(session, delivery_id, user.id))


@cases_router.get("/{case_id}", response_model=CaseDetail, dependencies=[Depends(require_roles(*CASE_READERS))])
def get_case(case_id: IdPath, session: SessionDep) -> CaseDetail:
    """One case with its item's URL and fetch details. Roles: police, moderator, admin."""
    case = cases_service.get_case(session, case_id)
    item = session.get(ContentItem, case.item_id)
    assert item is not None  # a foreign key
    hours = None
    if case.offline_at is not None:
        hours = max(0.0, (as_utc(case.offline_at) - as_utc(case.created_at)).total_seconds() / 3600)
    return CaseDetail(
        **CasePublic.model_validate(case).model_dump(),
        url=item.url,
        fetched_at=item.fetched_at,
        sha256=item.sha256,
        hours_to_offline=hours,
        members=[case_member_public(m) for m in reposts.case_members(session, case.id)],
    )


@cases_router.get(
    "/{case_id}/evidence",
    response_class=Response,
    responses={200: {"content": {"application/zip": {}}, "description": "The signed evidence bundle"}},
    dependencies=[Depends(require_roles(*CASE_READERS))],
)
def download_evidence(case_id: IdPath, session: SessionDep, settings: SettingsDep) -> Response:
    """The case's evidence bundle (ZIP, manifest signed with Ed25519). Roles: police, moderator, admin."""
    case, data = cases_service.evidence_bundle(session, case_id, settings)
    return Response(
        content=data,
        media_type="application/zip",
        headers={
            "Content-Disposition": f'attachment; filename="saqshy-case-{case.id}.zip"',
            "X-Content-SHA256": case.evidence_sha256 or "",
        },
    )


@cases_router.post("/{case_id}/acknowledge", response_model=CasePublic)
def acknowledge_case(
    case_id: IdPath, session: SessionDep, user: Annotated[Actor, Depends(require_roles(*POLICE))]
) -> CasePublic:
    """The police have taken the case (409 if it is not new). Roles: police, admin."""
    return CasePublic.model_validate(cases_service.acknowledge_case(session, case_id, user.id))


@cases_router.put("/{case_id}/outcome", response_model=CasePublic)
def set_case_outcome(
    case_id: IdPath,
    body: OutcomeUpdate,
    session: SessionDep,
    settings: SettingsDep,
    user: Annotated[Actor, Depends(require_roles(*POLICE))],
) -> CasePublic:
    """Close the case with the police outcome, or correct it. Roles: police, admin."""
    case = cases_service.set_outcome(session, case_id, user.id, body.outcome, settings, body.note)
    return CasePublic.model_validate(case)


@labels_router.get(
    "", response_model=TrainingLabelsPublic, dependencies=[Depends(require_roles(Role.ML_ENGINEER, Role.ADMIN))]
)
def export_labels(
    session: SessionDep,
    after_task_id: Annotated[int, Query(ge=0, le=MAX_ID)] = 0,
    limit: Annotated[int, Query(ge=1, le=5000)] = 500,
    language: Annotated[str | None, Query(max_length=8)] = None,
    decided_since: datetime | None = None,
) -> TrainingLabelsPublic:
    """Decided labels for retraining, police outcomes applied; page with ``after_task_id``.

    Roles: ml_engineer, admin.
    """
    rows = cases_service.training_labels(
        session, after_task_id=after_task_id, limit=limit, language=language, decided_since=decided_since
    )
    return TrainingLabelsPublic(
        items=[TrainingLabelPublic.model_validate(row) for row in rows],
        next_after_task_id=rows[-1].task_id if len(rows) == limit else None,
    )


@labels_router.get(
    "/coverage", response_model=LabelCoveragePublic,
    dependencies=[Depends(require_roles(Role.ML_ENGINEER, Role.ADMIN))],
)
def read_label_coverage(session: SessionDep, settings: SettingsDep) -> LabelCoveragePublic:
    """Decided labels per category and language (a near-duplicate cluster counts once, as in
    training) and how many more each needs to reach its target. Roles: ml_engineer, admin."""
    rows = label_coverage.label_counts(session, settings)
    return LabelCoveragePublic(items=[LabelCountPublic.model_validate(row) for row in rows])


router = APIRouter()
router.include_router(cases_router)
router.include_router(labels_router)
