"""Everything an HTML page yields, computed from its bytes alone (picklable in and out).

This is the CPU-heavy step of a crawl, with the WARC evidence writing (gzip, hashes):
``pipelines.ExtractPipeline`` runs it in worker processes so the Twisted reactor keeps fetching.
"""

from __future__ import annotations

import hashlib
from typing import Any

from crawlers.evidence import write_evidence
from crawlers.extraction.charset import decode_html
from crawlers.extraction.language import detect_language
from crawlers.extraction.text import html_title, main_text
from saqshy.simhash import simhash


def analyse_text(text: str) -> dict[str, Any]:
    """Language and SimHash of text that is already extracted (a post, a feed entry)."""
    return {
        "language": detect_language(text),
        "simhash": simhash(text),
        "text_sha256": hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest() if text else None,
    }


def extract_page(
    body: bytes, url: str, content_type: str | None, max_text_chars: int, max_title_chars: int
) -> dict[str, Any]:
    markup, encoding = decode_html(body, content_type)
    title = html_title(markup)
    text = main_text(markup, url)
    truncated = len(text) > max_text_chars
    if truncated:
        text = text[:max_text_chars]
    if title and len(title) > max_title_chars:
        title = title[: max_title_chars - 1] + "…"
    fields: dict[str, Any] = {"title": title, "text": text, "encoding": encoding, "truncated": truncated}
    fields.update(analyse_text(text))
    return fields


def analyse_item(payload: dict[str, Any]) -> dict[str, Any]:
    """Worker entry point: write the evidence (``fetch`` set, first item of a response), then
    extract a page (``body`` set) or analyse a post's text."""
    result: dict[str, Any] = {}
    if payload.get("fetch") is not None:
        result["evidence"] = write_evidence(payload["evidence_dir"], payload["evidence_prefix"], payload["fetch"])
    if payload.get("body") is not None:
        result.update(
            extract_page(
                payload["body"],
                payload["url"],
                payload.get("content_type"),
                payload["max_text_chars"],
                payload["max_title_chars"],
            )
        )
    else:
        result.update(analyse_text(payload.get("text") or ""))
    return result


def warm_up() -> None:
    """Worker initializer: load trafilatura and the language models once per worker, not on the
    first page. It lives here, not in ``pipelines``, so a worker imports only what extraction
    needs (not Scrapy, SQLAlchemy or the store): a second less of start-up per crawl."""
    analyse_item({"text": "warm up the language detector"})


def analyse_batch(payloads: list[dict[str, Any]]) -> list[dict[str, Any] | Exception]:
    """Worker entry point for a batch; one bad item fails alone."""
    results: list[dict[str, Any] | Exception] = []
    for payload in payloads:
        try:
            results.append(analyse_item(payload))
        except Exception as exc:
            results.append(exc)
    return results
