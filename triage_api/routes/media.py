"""Images of items: the list of an item's media, and our re-encoded thumbnails."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Response

from saqshy.db.models import Role
from triage_api.deps import SessionDep, SettingsDep, require_roles
from triage_api.schemas.common import IdPath
from triage_api.schemas.media import MediaPublic
from triage_api.services import media
from triage_api.services.auth import Actor

router = APIRouter(tags=["media"])

# Every role may ask; whether the item is theirs to see is decided per item (services.media).
Viewer = Annotated[Actor, Depends(require_roles(*Role))]

# A thumbnail is an image and nothing else: no script, no subresource, no plugin, even opened
# on its own; the security headers middleware keeps this stricter policy for these responses.
THUMBNAIL_HEADERS = {
    "Content-Security-Policy": "default-src 'none'; sandbox",
    "X-Content-Type-Options": "nosniff",
    "Cache-Control": "private",
    "Content-Disposition": "inline",
}
NOT_FOUND: dict[int | str, dict[str, Any]] = {404: {"description": "No such item or media, or not one you may see."}}


@router.get("/items/{item_id}/media", response_model=list[MediaPublic], responses=NOT_FOUND)
def list_item_media(item_id: IdPath, user: Viewer, session: SessionDep) -> list[MediaPublic]:
    """Anyone who may see the item (staff; a volunteer holding or having voted on its task; police
    with its case): its images in page order, with what the crawler made of each."""
    return [MediaPublic.of(row) for row in media.item_media(session, user, item_id)]


@router.get(
    "/media/{media_id}/thumbnail",
    response_class=Response,
    responses={200: {"content": {"image/webp": {}}, "description": "Our re-encoded thumbnail."}, **NOT_FOUND},
)
def read_thumbnail(media_id: IdPath, user: Viewer, session: SessionDep, settings: SettingsDep) -> Response:
    """The re-encoded, metadata-free thumbnail of an image (never the crawled bytes)."""
    data, content_type = media.thumbnail(session, settings, user, media_id)
    return Response(data, media_type=content_type, headers=THUMBNAIL_HEADERS)
