"""Full-text search over items."""

from __future__ import annotations

from pydantic import ConfigDict

from triage_api.schemas.common import UtcDatetime
from triage_api.services.search import ItemHit


class ItemHitPublic(ItemHit):
    model_config = ConfigDict(from_attributes=True)

    fetched_at: UtcDatetime
    published_at: UtcDatetime | None
