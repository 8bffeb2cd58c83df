"""Sources with their roll-up of decisions, and candidate sources to accept or reject."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query

from saqshy.db.models import Role, Source, SourceKind
from saqshy.services import sources as sources_service
from saqshy.services.sources import SourceFigures, SourceOrder, SourcePage
from saqshy.timeutil import utcnow
from triage_api.deps import SessionDep, SettingsDep, require_roles
from triage_api.schemas.common import IdPath, LimitParam, OffsetParam, Page
from triage_api.schemas.sources import (
    CrawlStatus,
    CrawlStatusPublic,
    RollupPublic,
    SourceCreate,
    SourceDetail,
    SourceLinkPublic,
    SourcePublic,
    SourceUpdate,
)
from triage_api.services.auth import Actor

router = APIRouter(prefix="/sources", tags=["sources"])

MODERATORS = (Role.MODERATOR, Role.ADMIN)


def _page(found: SourcePage, offset: int, limit: int) -> Page[SourcePublic]:
    return Page(items=[SourcePublic.model_validate(row) for row in found.items], total=found.total, offset=offset,
                limit=limit)


def _detail(source: Source, figures: SourceFigures) -> SourceDetail:
    return SourceDetail(
        **SourcePublic.model_validate(source).model_dump(),
        illegal_rate=figures.illegal_rate,
        recrawl_interval_seconds=figures.recrawl_interval_seconds,
        cases=figures.cases,
        top_links=[
            SourceLinkPublic(target=link.target, kind=link.target_kind, seen_count=link.seen_count)
            for link in figures.top_links
        ],
    )


@router.get("", response_model=Page[SourcePublic], dependencies=[Depends(require_roles(*MODERATORS))])
def list_sources(
    session: SessionDep,
    min_risk: Annotated[float | None, Query(ge=0.0, le=1.0)] = None,
    kind: SourceKind | None = None,
    offset: OffsetParam = 0,
    limit: LimitParam = 50,
) -> Page[SourcePublic]:
    """Sources, riskiest first, with decision counts. Roles: moderator, admin."""
    return _page(sources_service.list_sources(session, min_risk=min_risk, kind=kind, offset=offset, limit=limit),
                 offset, limit)


@router.post("", response_model=SourcePublic, status_code=201)
def create_source(
    body: SourceCreate, session: SessionDep, settings: SettingsDep,
    user: Annotated[Actor, Depends(require_roles(*MODERATORS))],
) -> SourcePublic:
    """Add a source to crawl, due now (422 for a URL it refuses, 409 for a name in use). Roles: moderator, admin."""
    source = sources_service.create_source(
        session, user.id, url=body.url, kind=body.kind, crawl_every_seconds=body.crawl_every_seconds,
        max_depth=body.max_depth, name=body.name, policy=settings.address_policy,
    )
    return SourcePublic.model_validate(source)


@router.get("/candidates", response_model=Page[SourcePublic], dependencies=[Depends(require_roles(*MODERATORS))])
def list_candidates(
    session: SessionDep, include_rejected: bool = False, offset: OffsetParam = 0, limit: LimitParam = 50
) -> Page[SourcePublic]:
    """Sources suggested from the outlinks of risky sources, awaiting a moderator. Roles: moderator, admin."""
    found = sources_service.list_sources(
        session, candidates=True, include_rejected=include_rejected, order=SourceOrder.NEWEST, offset=offset,
        limit=limit,
    )
    return _page(found, offset, limit)


@router.post("/rollup", response_model=RollupPublic)
def rollup(
    session: SessionDep, settings: SettingsDep, user: Annotated[Actor, Depends(require_roles(*MODERATORS))]
) -> RollupPublic:
    """Recompute every source's risk now and suggest candidates (the sweep job does it periodically).

    Roles: moderator, admin.
    """
    changed, created = sources_service.refresh_discovery(session, settings, actor_id=user.id)
    return RollupPublic(
        changed_source_ids=changed, candidates_created=[SourcePublic.model_validate(s) for s in created]
    )


@router.get("/crawl-status", response_model=CrawlStatusPublic, dependencies=[Depends(require_roles(*MODERATORS))])
def crawl_status(session: SessionDep, settings: SettingsDep) -> CrawlStatusPublic:
    """Per crawled source: last and next crawl, overdue or not, items in all and in the last 24 hours.

    Roles: moderator, admin.
    """
    now = utcnow()
    states = sources_service.crawl_status(session, settings, now)
    return CrawlStatusPublic(generated_at=now, sources=[
        CrawlStatus(
            source_id=st.source.id, name=st.source.name, kind=st.source.kind, enabled=st.source.enabled,
            last_crawled_at=st.source.last_crawled_at, next_crawl_at=st.source.next_crawl_at, overdue=st.overdue,
            item_count=st.item_count, items_last_24h=st.items_last_24h,
            crawl_every_seconds=st.source.crawl_every_seconds, recrawl_interval_seconds=st.recrawl_interval_seconds,
        )
        for st in states
    ])


@router.get("/{source_id}", response_model=SourceDetail, dependencies=[Depends(require_roles(*MODERATORS))])
def get_source(source_id: IdPath, session: SessionDep, settings: SettingsDep) -> SourceDetail:
    """One source with its illegal rate, recrawl interval, cases and top outlinks. Roles: moderator, admin."""
    source = sources_service.get_source(session, source_id)
    return _detail(source, sources_service.source_figures(session, source, settings))


@router.post("/{source_id}/accept", response_model=SourcePublic)
def accept_candidate(
    source_id: IdPath,
    session: SessionDep,
    settings: SettingsDep,
    user: Annotated[Actor, Depends(require_roles(*MODERATORS))],
) -> SourcePublic:
    """Turn a candidate into a crawled source (409 if it is not a candidate, 422 if its address is
    private). Roles: moderator, admin."""
    source = sources_service.accept_candidate(session, source_id, user.id, settings.address_policy)
    return SourcePublic.model_validate(source)


@router.post("/{source_id}/reject", response_model=SourcePublic)
def reject_candidate(
    source_id: IdPath, session: SessionDep, user: Annotated[Actor, Depends(require_roles(*MODERATORS))]
) -> SourcePublic:
    """Turn a candidate down; it is not suggested again. Roles: moderator, admin."""
    return SourcePublic.model_validate(sources_service.reject_candidate(session, source_id, user.id))


@router.post("/{source_id}/crawl", response_model=SourcePublic)
def crawl_source_now(
    source_id: IdPath, session: SessionDep, user: Annotated[Actor, Depends(require_roles(*MODERATORS))]
) -> SourcePublic:
    """Crawl a source at the next crawl round (409 if it is disabled or a candidate). Roles: moderator, admin."""
    return SourcePublic.model_validate(sources_service.crawl_now(session, source_id, user.id))


@router.patch("/{source_id}", response_model=SourcePublic)
def update_source(
    source_id: IdPath, body: SourceUpdate, session: SessionDep, settings: SettingsDep,
    user: Annotated[Actor, Depends(require_roles(*MODERATORS))],
) -> SourcePublic:
    """Change a source's recrawl interval, enable or disable it, set its crawl depth (audited).

    Roles: moderator, admin.
    """
    source = sources_service.update_source(
        session, settings, source_id, user.id, crawl_every_seconds=body.crawl_every_seconds,
        enabled=body.enabled, max_depth=body.max_depth,
    )
    return SourcePublic.model_validate(source)
