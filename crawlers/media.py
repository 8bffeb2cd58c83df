"""Images of crawled items: found in the markup, fetched politely, kept as evidence, re-encoded.

Spiders put an item's image references in ``media_urls`` (``<img src/srcset>``, ``og:image``,
Telegram's photo backgrounds). ``ImagePipeline`` fetches them through the crawl's own engine, as
sub-resources of their page: robots.txt, AutoThrottle and the per-domain limits apply, each
request is capped in size (``download_maxsize``: a bigger download is aborted, not read), and an
image shared by many pages is fetched once per crawl. Every response is written to the WARC
evidence like a page. The bytes are then judged by what they are, never by the server's
Content-Type: SVG is markup (scripts, remote references) and is never displayed; anything Pillow
cannot open as one of a few raster formats is skipped; an image with more pixels than
``media_max_pixels`` is never decoded. A verified image is re-encoded to a small, metadata-free
WebP thumbnail in our own store (``saqshy.services.media``): the only media a reviewer sees.

Nothing here can fail its item: every outcome is a ``MediaRecord`` with a status, and counted in
the crawl's stats (``saqshy/media/*``).
"""

from __future__ import annotations

import asyncio
import io
import logging
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import KW_ONLY, dataclass, field
from pathlib import Path
from typing import Any, Self

from PIL import Image, ImageOps, UnidentifiedImageError
from scrapy import Request
from scrapy.crawler import Crawler
from scrapy.exceptions import DownloadCancelledError, IgnoreRequest
from scrapy.http import Response
from scrapy.pipelines.media import FileInfoOrError, MediaPipeline
from sqlalchemy.orm import Session
from twisted.python.failure import Failure

from crawlers.evidence import Fetch, WarcEvidenceWriter
from crawlers.extraction.canonical import host_of
from saqshy.db.models import MediaStatus
from saqshy.services.items import IngestResult
from saqshy.services.media import MediaRecord, record_media, store_thumbnail

logger = logging.getLogger(__name__)

# Raster formats we decode; Image.open never even tries the others (EPS would run Ghostscript).
RASTER_FORMATS = ("PNG", "JPEG", "GIF", "WEBP", "BMP")
THUMBNAIL_FORMAT, THUMBNAIL_EXTENSION, THUMBNAIL_TYPE = "WEBP", "webp", "image/webp"

# --- judging and re-encoding bytes -------------------------------------------------------------


def looks_like_svg(body: bytes, content_type: str | None) -> bool:
    head = body[:4096].lstrip().lower()
    if head.startswith(b"\xef\xbb\xbf"):
        head = head[3:].lstrip()
    return (
        "svg" in (content_type or "").lower()
        or head.startswith(b"<svg")
        or (head.startswith((b"<?xml", b"<!doctype svg", b"<!--")) and b"<svg" in head)
    )


@dataclass(slots=True)
class Verdict:
    """What ``judge_image`` made of some bytes (a thumbnail only when ``status`` is STORED)."""

    status: MediaStatus
    _: KW_ONLY
    sniffed_type: str | None = None
    width: int | None = None
    height: int | None = None
    thumbnail: bytes | None = field(default=None, repr=False)
    detail: str | None = None


def judge_image(body: bytes, content_type: str | None, *, max_pixels: int, max_side: int) -> Verdict:
    """Verify that ``body`` is a raster image by its bytes, and re-encode it as a thumbnail."""
    if looks_like_svg(body, content_type):
        return Verdict(MediaStatus.SKIPPED_SVG, sniffed_type="image/svg+xml", detail="SVG is never displayed")
    try:
        with Image.open(io.BytesIO(body), formats=RASTER_FORMATS) as probe:
            kind = Image.MIME.get(probe.format or "", "image/unknown")
            width, height = probe.size
            # The header alone gives the size: a bomb is refused before a pixel is decoded.
            if width * height > max_pixels:
                return Verdict(
                    MediaStatus.BOMB,
                    sniffed_type=kind,
                    width=width,
                    height=height,
                    detail=f"{width}x{height} pixels, over the limit of {max_pixels}",
                )
            probe.verify()
        with Image.open(io.BytesIO(body), formats=RASTER_FORMATS) as image:
            image.draft("RGB", (max_side, max_side))  # JPEG: decode at a reduced scale
            frame = ImageOps.exif_transpose(image) or image
            frame.thumbnail((max_side, max_side))
            has_alpha = frame.mode in ("RGBA", "LA", "PA") or (frame.mode == "P" and "transparency" in frame.info)
            frame = frame.convert("RGBA" if has_alpha else "RGB")
            out = io.BytesIO()
            # No exif/icc/xmp passed on: the thumbnail carries no metadata of the original.
            frame.save(out, THUMBNAIL_FORMAT, quality=80, method=4)
    except Image.DecompressionBombError as exc:
        return Verdict(MediaStatus.BOMB, detail=str(exc)[:300])
    except UnidentifiedImageError:
        return Verdict(MediaStatus.SKIPPED_TYPE, sniffed_type=_sniff_text(body), detail="not an image by its bytes")
    except Exception as exc:  # truncated, corrupt, hostile: whatever Pillow raises, the image is broken
        return Verdict(MediaStatus.ERROR, detail=f"broken image: {type(exc).__name__}: {exc}"[:300])
    return Verdict(MediaStatus.STORED, sniffed_type=kind, width=width, height=height, thumbnail=out.getvalue())


def _sniff_text(body: bytes) -> str:
    head = body[:512].lstrip().lower()
    return (
        "text/html"
        if head.startswith((b"<!doctype html", b"<html", b"<head", b"<body"))
        else "application/octet-stream"
    )


def keep_image(
    writer: WarcEvidenceWriter,
    url: str,
    fetch: Fetch,
    content_type: str | None,
    *,
    media_dir: Path,
    max_pixels: int,
    max_side: int,
) -> MediaRecord:
    """Evidence first (whatever the bytes are), then the verdict, then the thumbnail if any."""
    evidence = writer.write(fetch)
    verdict = judge_image(fetch.body, content_type, max_pixels=max_pixels, max_side=max_side)
    key = store_thumbnail(media_dir, verdict.thumbnail, THUMBNAIL_EXTENSION) if verdict.thumbnail else None
    return MediaRecord(
        url=url,
        status=verdict.status,
        sha256=evidence.sha256,
        size_bytes=evidence.size,
        evidence_path=evidence.path,
        evidence_offset=evidence.offset,
        evidence_length=evidence.length,
        sniffed_type=verdict.sniffed_type,
        width=verdict.width,
        height=verdict.height,
        thumbnail_key=key,
        thumbnail_type=THUMBNAIL_TYPE if key else None,
        detail=verdict.detail,
        fetched_at=fetch.fetched_at,
    )


# --- the pipeline ------------------------------------------------------------------------------


class ImagePipeline(MediaPipeline):
    """Fetches, keeps and re-encodes the images of each item (``media_urls`` → ``media``)."""

    LOG_FAILED_RESULTS = False

    def __init__(self, crawler: Crawler) -> None:
        super().__init__(crawler=crawler)
        from crawlers.pipelines import saqshy_settings

        assert crawler.stats is not None
        self.stats = crawler.stats
        settings = saqshy_settings(crawler)
        self.enabled = settings.crawler_media_enabled and settings.crawler_media_per_item > 0
        self.per_item = settings.crawler_media_per_item
        self.max_bytes = settings.crawler_media_max_bytes
        self.offsite = settings.crawler_media_offsite
        self.max_pixels = settings.media_max_pixels
        self.max_side = settings.media_thumbnail_px
        self.media_dir = settings.media_dir
        self.evidence_dir = Path(crawler.settings.get("SAQSHY_EVIDENCE_DIR") or settings.evidence_dir)
        self.evidence_prefix = f"saqshy-{crawler.spidercls.name}-media"
        # CDNs redirect; RedirectMiddleware (with its loop check) follows, as for pages.
        self.allow_redirects = True
        self._handle_statuses(True)
        # One thread decodes and writes evidence: the reactor never waits on Pillow or the disk,
        # and the WARC writer is never shared between threads.
        self.executor: ThreadPoolExecutor | None = None
        self.writer: WarcEvidenceWriter | None = None
        self.failures: dict[str, tuple[MediaStatus, str]] = {}

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> Self:
        return cls(crawler)

    def open_spider(self, spider: Any = None) -> None:
        super().open_spider()
        # Pillow's own guard at our limit too (it warns past it and refuses past twice it).
        Image.MAX_IMAGE_PIXELS = self.max_pixels

    def close_spider(self, spider: Any = None) -> None:
        if self.executor is not None:
            self.executor.shutdown(wait=True)
            self.executor = None
        if self.writer is not None:
            self.writer.close()
            self.writer = None

    async def process_item(self, item: Any, spider: Any = None) -> Any:
        # Most pages have no images: they pass straight through, no Deferreds, no tasks.
        if not item.get("media_urls"):
            return item
        if not self.enabled:
            del item["media_urls"]
            return item
        return await super().process_item(item)

    def _wanted(self, item: Any) -> list[str]:
        urls: list[str] = item["media_urls"]
        if not self.offsite:
            page_host = host_of(item["url"])
            urls = [url for url in urls if host_of(url) == page_host]
        return urls[: self.per_item]

    def get_media_requests(self, item: Any, info: MediaPipeline.SpiderInfo) -> list[Request]:
        referer = item["url"].split("#", 1)[0]
        return [
            Request(
                url,
                headers={"Referer": referer, "Accept": "image/*"},
                meta={
                    "saqshy_media": True,
                    "download_maxsize": self.max_bytes,
                    "download_warnsize": 0,
                    "saqshy_media_url": url,
                },
                priority=5,  # a started page's images before new pages: its items finish sooner
            )
            for url in self._wanted(item)
        ]

    def media_to_download(self, request: Request, info: MediaPipeline.SpiderInfo, *, item: Any = None) -> None:
        return None

    def file_path(
        self, request: Request, response: Response | None = None, info: Any = None, *, item: Any = None
    ) -> str:
        return ""  # the store is content-addressed by the thumbnail's bytes, not by request

    # Our record, not FilesPipeline's FileInfo dict: the base class only caches and hands it back.
    async def media_downloaded(  # type: ignore[override]
        self, response: Response, request: Request, info: MediaPipeline.SpiderInfo, *, item: Any = None
    ) -> MediaRecord:
        url = request.meta.get("saqshy_media_url") or request.url
        if response.status != 200:
            self._count("errors")
            return MediaRecord(url=url, status=MediaStatus.ERROR, detail=f"HTTP {response.status}")
        self._count("fetched")
        fetch = Fetch.of_response(request, response, fetched_at=request.meta.get("saqshy_fetched_at"))
        content_type = response.headers.get("Content-Type")
        if self.executor is None:
            self.executor = ThreadPoolExecutor(1, thread_name_prefix="saqshy-media")
        loop = asyncio.get_running_loop()
        record = await loop.run_in_executor(
            self.executor, self._keep, url, fetch, content_type.decode("latin-1") if content_type else None
        )
        self._count(record.status.value if record.status is not MediaStatus.ERROR else "errors")
        return record

    def _keep(self, url: str, fetch: Fetch, content_type: str | None) -> MediaRecord:
        """Worker thread (the only user of the WARC writer)."""
        if self.writer is None:
            self.writer = WarcEvidenceWriter(self.evidence_dir, prefix=self.evidence_prefix)
        return keep_image(
            self.writer,
            url,
            fetch,
            content_type,
            media_dir=self.media_dir,
            max_pixels=self.max_pixels,
            max_side=self.max_side,
        )

    # Returns None rather than raising: see the comment at its end.
    def media_failed(  # type: ignore[override]
        self, failure: Failure, request: Request, info: MediaPipeline.SpiderInfo
    ) -> None:
        error = failure.value
        if isinstance(error, DownloadCancelledError) or "max size" in str(error).lower():
            status, detail = MediaStatus.TOO_BIG, f"over {self.max_bytes} bytes: download aborted"
        elif isinstance(error, IgnoreRequest) and "robots.txt" in str(error):
            status, detail = MediaStatus.ROBOTS, "forbidden by robots.txt"
        else:
            status, detail = MediaStatus.ERROR, f"{type(error).__name__}: {error}"[:300]
        self._count(status.value if status is not MediaStatus.ERROR else "errors")
        # Returned, not raised: an expected outcome, which MediaPipeline would log with a traceback.
        # It caches None for the URL; item_completed finds the outcome here.
        self.failures[request.meta.get("saqshy_media_url") or request.url] = (status, detail)

    def item_completed(self, results: list[FileInfoOrError], item: Any, info: MediaPipeline.SpiderInfo) -> Any:
        records: list[MediaRecord] = []
        # Results come in the order of the requests; a failure carries no URL, so zip them.
        for (ok, value), url in zip(results, self._wanted(item), strict=False):
            if ok and isinstance(value, MediaRecord):
                records.append(value)
            elif url in self.failures:
                status, detail = self.failures[url]
                records.append(MediaRecord(url=url, status=status, detail=detail))
            else:
                records.append(MediaRecord(url=url, status=MediaStatus.ERROR, detail=repr(value)[:300]))
        item["media"] = records
        del item["media_urls"]
        return item

    def _count(self, name: str) -> None:
        self.stats.inc_value(f"saqshy/media/{name}")


def store_item_media(
    session: Session,
    values: list[dict[str, Any]],
    stored: Sequence[IngestResult | None],
    media: dict[str, list[MediaRecord]],
) -> tuple[int, int]:
    """StorePipeline, after ingest: the media rows of the batch's items (rows written, errors).

    In a savepoint of the items' transaction: a failure here loses the media rows, never the items.
    """
    pairs: list[tuple[int, list[MediaRecord]]] = []
    for value, outcome in zip(values, stored, strict=True):
        records = media.get(value["canonical_url"] or value["url"])
        if outcome is not None and records:
            pairs.append((outcome.item_id, records))
    try:
        with session.begin_nested():
            return record_media(session, pairs), 0
    except Exception:
        logger.exception("storing the media of %d items failed", len(pairs))
        return 0, 1
