"""Media of an item as the API shows them."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

from saqshy.db.models import Media, MediaStatus
from triage_api.schemas.common import UtcDatetime


class MediaPublic(BaseModel):
    """One image of an item. ``url`` is where the crawler found it: hostile text, never to be
    loaded; ``thumbnail_url`` is our re-encoded copy (null when the image was not kept)."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    item_id: int
    position: int
    url: str
    status: MediaStatus
    sniffed_type: str | None
    width: int | None
    height: int | None
    sha256: str | None
    size_bytes: int | None
    fetched_at: UtcDatetime | None
    thumbnail_url: str | None
    detail: str | None

    @classmethod
    def of(cls, row: Media) -> MediaPublic:
        return cls(
            id=row.id,
            item_id=row.item_id,
            position=row.position,
            url=row.url,
            status=row.status,
            sniffed_type=row.sniffed_type,
            width=row.width,
            height=row.height,
            sha256=row.sha256,
            size_bytes=row.size_bytes,
            fetched_at=row.fetched_at,
            thumbnail_url=f"/media/{row.id}/thumbnail" if row.thumbnail_key else None,
            detail=row.detail,
        )
