"""``saqshy items export``: items as JSON Lines, for analysts and for checking a crawl."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any, TextIO

from sqlalchemy import select
from sqlalchemy.orm import Session

from saqshy.db.models import ContentItem, Source
from saqshy.errors import NotFound
from saqshy.timeutil import iso


def export_items(session: Session, out: TextIO, *, since: datetime | None = None, source: str | None = None) -> int:
    query = select(ContentItem, Source.name).outerjoin(Source, Source.id == ContentItem.source_id)
    if source is not None:
        source_id = session.scalar(select(Source.id).where(Source.name == source))
        if source_id is None:
            raise NotFound(f"no source named {source!r} (see `saqshy source list`)")
        query = query.where(ContentItem.source_id == source_id)
    if since is not None:
        query = query.where(ContentItem.fetched_at >= since)
    count = 0
    for item, source_name in session.execute(query.order_by(ContentItem.id).execution_options(yield_per=500)):
        record: dict[str, Any] = {
            "id": item.id,
            "url": item.url,
            "canonical_url": item.canonical_url,
            "source": source_name,
            "post_id": item.post_id,
            "author": item.author,
            "published_at": iso(item.published_at),
            "fetched_at": iso(item.fetched_at),
            "language": item.language,
            "title": item.title,
            "text": item.text,
            "is_binary": item.is_binary,
            "sha256": item.sha256,
            "cluster_id": item.cluster_id,
        }
        out.write(json.dumps(record, ensure_ascii=False) + "\n")
        count += 1
    return count
