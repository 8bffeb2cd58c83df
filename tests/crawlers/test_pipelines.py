"""The store pipeline: what another crawler process stored is seen before clustering."""

from __future__ import annotations

from saqshy.context import Context
from saqshy.db.session import session_scope


def test_near_duplicate_index_sees_items_stored_by_another_process(ctx: Context) -> None:
    from types import SimpleNamespace

    from crawlers.pipelines import StorePipeline
    from saqshy.services.items import ingest_item
    from saqshy.simhash import NearDupIndex, simhash, to_signed

    ad = "Продам гараж в центре, недорого, звоните по номеру 8 777 123 45 67, спросить Асель"
    pipeline = SimpleNamespace(index=NearDupIndex(8), _index_seen_id=0)
    with session_scope(ctx.sessions) as session:
        StorePipeline._refresh_index(pipeline, session)  # type: ignore[arg-type]
    assert len(pipeline.index) == 0
    # Another crawler process stores the ad...
    with session_scope(ctx.sessions) as session:
        value = simhash(ad)
        assert value is not None
        stored = ingest_item(session, {"url": "https://a.kz/1", "text": ad, "simhash": to_signed(value)}, ctx.settings)
    # ...and this one finds it before clustering its own batch: the repost joins its cluster.
    with session_scope(ctx.sessions) as session:
        StorePipeline._refresh_index(pipeline, session)  # type: ignore[arg-type]
    repost = simhash(ad.replace("Асель", "Айгерим"))
    assert repost is not None
    match = pipeline.index.nearest(repost)
    assert match is not None and match.item_id == stored.item_id
    assert pipeline._index_seen_id == stored.item_id
