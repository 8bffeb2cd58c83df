"""An RQ worker process for the contract tests: the real ``run_worker``, configured from the
environment like ``saqshy worker``, with the test jobs registered."""

from __future__ import annotations

import logging

from saqshy.context import build_context
from saqshy.jobs.rq_queue import run_worker
from saqshy.settings import Settings
from tests.saqshy.jobs import sample_jobs  # noqa: F401 - registers the test jobs


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    settings = Settings()
    # The test has migrated the store already; skipping the check makes the worker start sooner.
    run_worker(settings, burst=False, context=build_context(settings, migrate=False))


if __name__ == "__main__":
    main()
