"""Garbage-collector settings for Saqshy's long-running processes (a crawl, the API server).

Both allocate objects by the hundred thousand that reference counting frees at once, on top of a
large start-up heap (SQLAlchemy, pydantic models, FastAPI, Scrapy). With CPython's defaults the
cyclic collector runs every 700 allocations and each full collection rescans that whole start-up
heap, which costs crawls CPU and the API its tail latency (docs/performance.md). The start-up heap
is frozen out of collection, and young collections run every 5,000 allocations.
"""

from __future__ import annotations

import gc

GC_YOUNG_THRESHOLD = 5000


def tune_gc() -> None:
    """Apply the settings once the process is set up (what exists then is never collected)."""
    gc.collect()
    gc.freeze()
    _, middle, old = gc.get_threshold()
    gc.set_threshold(GC_YOUNG_THRESHOLD, middle, old)
