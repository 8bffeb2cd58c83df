"""Near-duplicate clusters of content items, so that a reposted ad is reviewed once per cluster.

A window of recent SimHashes lives in memory (``saqshy.simhash.NearDupIndex``); an exact copy
beyond that window, or stored by another crawler process, is found in SQL by its text hash. An
item that matches nothing starts its own cluster (its ``cluster_id`` is its own id).
"""

from __future__ import annotations

from collections.abc import Mapping

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from saqshy.db.models import ContentItem
from saqshy.services.items import sha256_hex
from saqshy.simhash import NearDupIndex, to_unsigned

_WITH_SIMHASH = select(ContentItem.id, ContentItem.simhash, ContentItem.cluster_id).where(
    ContentItem.simhash.is_not(None)
)


def load_recent(session: Session, index: NearDupIndex, size: int) -> int:
    """Fill ``index`` with the ``size`` latest items that have a SimHash; returns the highest id read (0 if none)."""
    rows = session.execute(_WITH_SIMHASH.order_by(ContentItem.id.desc()).limit(size)).all()
    for item_id, value, cluster_id in reversed(rows):
        if value is not None:
            index.add(item_id, value, cluster_id or item_id)
    return rows[0][0] if rows else 0


def add_stored_since(session: Session, index: NearDupIndex, seen_id: int) -> int:
    """Add to ``index`` the items stored after ``seen_id``, by this process or another; returns
    the new highest id read.

    One indexed range query per batch, so two crawler processes do not each start a cluster for
    the same reposted ad. A row another process commits after a higher id was read is missed by
    the index (its exact copies are still found in SQL by text hash).
    """
    rows = session.execute(_WITH_SIMHASH.where(ContentItem.id > seen_id).order_by(ContentItem.id)).all()
    for item_id, value, cluster_id in rows:
        if value is not None:
            index.add(item_id, value, cluster_id or item_id)
    return rows[-1][0] if rows else seen_id


def assign_cluster(session: Session, index: NearDupIndex, item_id: int, simhash: int | None, text: str) -> int | None:
    """The cluster of a stored item from its (signed) SimHash, remembered in ``index``; None without a SimHash."""
    if simhash is None:
        return None
    match = index.nearest(to_unsigned(simhash), exclude=item_id)
    cluster_id = match.cluster_id if match else None
    if cluster_id is None and text:
        cluster_id = _exact_copy_cluster(session, item_id, text)
    cluster_id = cluster_id or item_id
    index.add(item_id, to_unsigned(simhash), cluster_id)
    return cluster_id


def _exact_copy_cluster(session: Session, item_id: int, text: str) -> int | None:
    row = session.execute(
        select(ContentItem.id, ContentItem.cluster_id)
        .where(ContentItem.text_sha256 == sha256_hex(text), ContentItem.id != item_id)
        .order_by(ContentItem.id)
        .limit(1)
    ).first()
    return None if row is None else row.cluster_id or row.id


def save_clusters(session: Session, clusters: Mapping[int, int]) -> None:
    """Write each item's cluster (item id to cluster id) in one executemany."""
    if clusters:
        session.execute(update(ContentItem), [{"id": i, "cluster_id": c} for i, c in clusters.items()])
