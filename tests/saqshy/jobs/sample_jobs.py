"""Jobs for the contract tests. They log each call to a file, so a worker in another process
(the RQ adapter's) leaves evidence the test can read."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

from saqshy.errors import InvalidInput
from saqshy.jobs import job


def record_call(log: str, **fields: Any) -> int:
    """Append one line for this call; return how many calls there were before it."""
    path = Path(log)
    before = len(path.read_text(encoding="utf-8").splitlines()) if path.exists() else 0
    with path.open("a", encoding="utf-8") as handle:
        handle.write(json.dumps({"at": time.time(), **fields}, ensure_ascii=False) + "\n")
    return before


def calls(log: str | Path) -> list[dict[str, Any]]:
    path = Path(log)
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


@job("test.echo")
def echo(ctx: Any, log: str, payload: Any = None) -> None:
    record_call(log, payload=payload)


@job("test.flaky")
def flaky(ctx: Any, log: str, fail_times: int) -> None:
    if record_call(log) < fail_times:
        raise RuntimeError("flaky failure")


@job("test.always_fail")
def always_fail(ctx: Any, log: str) -> None:
    record_call(log)
    raise RuntimeError("boom: this job always fails")


def one_attempt_less(settings: Any) -> int:
    """A retry policy read from the settings, as ``webhooks.deliver`` declares its own."""
    return int(settings.job_max_attempts) - 1


@job("test.fail_per_policy", max_attempts=one_attempt_less)
def fail_per_policy(ctx: Any, log: str) -> None:
    record_call(log)
    raise RuntimeError("fails on every attempt its policy allows")


@job("test.until_flag")
def until_flag(ctx: Any, log: str, flag: str) -> None:
    record_call(log)
    if not Path(flag).exists():
        raise RuntimeError(f"flag {flag} not there yet")


@job("test.bad_input")
def bad_input(ctx: Any, log: str) -> None:
    record_call(log)
    raise InvalidInput("item 42 has no URL")


@job("test.uses_store")
def uses_store(ctx: Any, log: str) -> None:
    # Jobs open their own session from the context they are given.
    from sqlalchemy import text

    from saqshy.db.session import session_scope

    with session_scope(ctx.sessions) as session:
        value = session.execute(text("SELECT 41 + 1")).scalar_one()
    record_call(log, value=value, settings_queue=ctx.settings.rq_queue, pid=os.getpid(), ctx_id=id(ctx))


@job("test.sleep")
def sleep(ctx: Any, log: str, seconds: float) -> None:
    record_call(log, event="start")
    time.sleep(seconds)
    record_call(log, event="end")


@job("test.progress")
def progress(ctx: Any, log: str, flag: str) -> None:
    from saqshy.jobs import report_progress

    record_call(log, event="start")
    report_progress(ctx, "half", 0.5, "half way", {"step": 1})
    # Reports until the flag appears: a cancel request ends it at one of these reports.
    while not Path(flag).exists():
        time.sleep(0.02)
        report_progress(ctx, "half", 0.5, "waiting for the flag")
    report_progress(ctx, "done", 1.0, "finished")
