"""The item a spider yields: one content item (a page, a post, a feed entry, a binary)."""

from __future__ import annotations

import scrapy


class ContentItem(scrapy.Item):
    # Identity and provenance.
    source_id = scrapy.Field()
    url = scrapy.Field()
    canonical_url = scrapy.Field()
    post_id = scrapy.Field()
    author = scrapy.Field()
    published_at = scrapy.Field()
    # Content: either ``body`` (raw HTML, extracted by ExtractPipeline) or ``text`` already.
    title = scrapy.Field()
    text = scrapy.Field()
    body = scrapy.Field()
    content_type = scrapy.Field()
    is_binary = scrapy.Field()
    # Filled by ExtractPipeline.
    language = scrapy.Field()
    simhash = scrapy.Field()
    text_sha256 = scrapy.Field()
    # The response the item came from (crawlers.evidence.FetchRef), written to WARC by
    # ExtractPipeline, which sets ``evidence`` (crawlers.evidence.Evidence).
    fetch = scrapy.Field()
    evidence = scrapy.Field()
    # Body hash and size for binaries (which have no WARC record).
    sha256 = scrapy.Field()
    size_bytes = scrapy.Field()
    fetched_at = scrapy.Field()
    server_ip = scrapy.Field()
    # Other domains and Telegram channels this item links to (discovery).
    outlinks = scrapy.Field()
    # Image references found in the item's markup (crawlers.media.ImagePipeline fetches them and
    # replaces them with ``media``: one saqshy.services.media.MediaRecord each).
    media_urls = scrapy.Field()
    media = scrapy.Field()
    extra = scrapy.Field()
