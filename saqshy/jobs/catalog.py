"""Every module that registers jobs, imported.

A worker (or the in-process pool) imports this before it runs anything, so the producer and the
consumer agree on every name. A new job module is added here.
"""

from __future__ import annotations

import classifier.drift
import classifier.jobs
import classifier.promotion
import classifier.retrain
import crawlers.jobs
import saqshy.jobs.retention
import saqshy.search.jobs
import triage_api.jobs
