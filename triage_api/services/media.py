"""Media of items for the API: who may see them, and the thumbnails we serve.

Only our own re-encoded thumbnails are ever served (``saqshy.services.media``), never the bytes
a crawled site sent. An item's media are visible to whoever may see the item itself: staff any
item, a volunteer an item whose task they hold or voted on, the police an item of a case.
Everyone else gets 404, not 403, so ids cannot be probed.
"""

from __future__ import annotations

from sqlalchemy import exists, select
from sqlalchemy.orm import Session

from saqshy.db.models import Case, ContentItem, Media, ReviewTask, Role, Vote
from saqshy.errors import NotFound
from saqshy.services.media import get_media, list_media, read_thumbnail
from saqshy.settings import Settings
from triage_api.services.auth import Actor

STAFF_ROLES = frozenset({Role.MODERATOR, Role.ADMIN, Role.ML_ENGINEER})


def may_see_item(session: Session, user: Actor, item_id: int) -> bool:
    if user.role in STAFF_ROLES:
        return session.get(ContentItem, item_id) is not None
    if user.role is Role.POLICE:
        return bool(session.scalar(select(exists().where(Case.item_id == item_id))))
    if user.role is Role.VOLUNTEER:
        voted = exists().where(Vote.task_id == ReviewTask.id, Vote.user_id == user.id)
        query = select(exists().where(ReviewTask.item_id == item_id, (ReviewTask.lease_owner_id == user.id) | voted))
        return bool(session.scalar(query))
    return False


def item_media(session: Session, user: Actor, item_id: int) -> list[Media]:
    if not may_see_item(session, user, item_id):
        raise NotFound(f"item {item_id} not found")
    return list_media(session, item_id)


def thumbnail(session: Session, settings: Settings, user: Actor, media_id: int) -> tuple[bytes, str]:
    """The thumbnail's bytes and our own Content-Type for it."""
    row = get_media(session, media_id)
    if not may_see_item(session, user, row.item_id):
        raise NotFound(f"media {media_id} not found")
    if row.thumbnail_key is None:
        raise NotFound(f"media {media_id} has no thumbnail (status {row.status.value})")
    return read_thumbnail(settings.media_dir, row.thumbnail_key)
