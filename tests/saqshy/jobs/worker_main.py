"""An RQ worker process for the contract tests: the real ``run_worker``, configured from the
environment like ``saqshy worker``, with the test jobs registered."""

from __future__ import annotations

import logging
import os
import time
from typing import Any

from saqshy.context import build_context
from saqshy.jobs.rq_queue import run_worker
from saqshy.settings import Settings
from tests.saqshy.jobs import sample_jobs  # noqa: F401 - registers the test jobs

# The fault tests slow each scoring batch down by this many seconds, to kill a worker mid-batch.
SCORE_PAUSE_ENV = "SAQSHY_TEST_SCORE_PAUSE_SECONDS"


def slow_down_scoring(pause: float) -> None:
    import classifier.jobs as scoring

    score_rows = scoring.score_rows

    def slow_score_rows(*args: Any, **kwargs: Any) -> Any:
        time.sleep(pause)
        return score_rows(*args, **kwargs)

    scoring.score_rows = slow_score_rows


def main() -> None:
    if pause := float(os.environ.get(SCORE_PAUSE_ENV) or 0):
        slow_down_scoring(pause)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    settings = Settings()
    # The test has migrated the store already; skipping the check makes the worker start sooner.
    run_worker(settings, burst=False, context=build_context(settings, migrate=False))


if __name__ == "__main__":
    main()
