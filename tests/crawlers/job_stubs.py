"""A stand-in ``score_items`` for crawl tests, registered only while the classifier has none."""

from __future__ import annotations

from typing import Any

from saqshy.errors import InvalidInput
from saqshy.jobs.registry import get_job_spec, job

try:
    get_job_spec("score_items")
except InvalidInput:

    @job("score_items")
    def score_items(ctx: Any, item_ids: list[int]) -> None:
        return None
