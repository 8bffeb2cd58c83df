"""Progress reports (stage, share done, ETA) and cancellation of jobs, on the in-process pool."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import pytest
from typer.testing import CliRunner

from saqshy.context import Context
from saqshy.db.models import JobStatus
from saqshy.errors import InvalidTransition, NotFound
from saqshy.jobs import report_progress
from tests.saqshy.jobs import sample_jobs  # noqa: F401 - registers the test jobs
from tests.saqshy.jobs.sample_jobs import calls


def _wait(predicate: Callable[[], bool], timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


def test_a_running_job_reports_progress_and_stops_when_cancelled(ctx: Context, tmp_path: Path) -> None:
    log, flag = str(tmp_path / "log"), str(tmp_path / "flag")
    key = ctx.jobs.enqueue("test.progress", {"log": log, "flag": flag})
    _wait(lambda: (info := ctx.jobs.get(key)) is not None and info.progress is not None)
    info = ctx.jobs.get(key)
    assert info is not None and info.status == JobStatus.RUNNING
    assert info.progress is not None
    assert info.progress["stage"] == "half" and info.progress["fraction"] == 0.5
    assert info.progress["eta_seconds"] is not None and info.progress["eta_seconds"] >= 0

    cancelled = ctx.jobs.cancel(key)
    assert cancelled.cancel_requested_at is not None and cancelled.status == JobStatus.RUNNING
    assert ctx.jobs.wait_for([key], timeout=20)
    info = ctx.jobs.get(key)
    assert info is not None and info.status == JobStatus.FAILED and info.attempts == 1  # never retried
    assert info.last_error is not None and info.last_error.startswith("JobCancelled")
    assert [c["event"] for c in calls(log)] == ["start"]
    with pytest.raises(InvalidTransition):
        ctx.jobs.cancel(key)


def test_a_finished_job_keeps_its_last_progress(ctx: Context, tmp_path: Path) -> None:
    flag = tmp_path / "flag"
    flag.touch()
    key = ctx.jobs.enqueue("test.progress", {"log": str(tmp_path / "log"), "flag": str(flag)})
    assert ctx.jobs.wait_for([key], timeout=20)
    info = ctx.jobs.get(key)
    assert info is not None and info.status == JobStatus.SUCCEEDED
    assert info.progress is not None and info.progress["stage"] == "done" and info.progress["fraction"] == 1.0
    assert info.progress["eta_seconds"] == 0


def test_a_queued_job_is_cancelled_at_once(ctx: Context, tmp_path: Path) -> None:
    key = ctx.jobs.enqueue("test.echo", {"log": str(tmp_path / "log")}, delay=600)
    info = ctx.jobs.cancel(key)
    assert info.status == JobStatus.FAILED and info.finished_at is not None
    with pytest.raises(NotFound):
        ctx.jobs.cancel("no-such-job")
    # Enqueued again, it starts afresh: no cancel request left over.
    again = ctx.jobs.enqueue("test.echo", {"log": str(tmp_path / "log")}, key=key)
    assert ctx.jobs.wait_for([again], timeout=20)
    final = ctx.jobs.get(key)
    assert final is not None and final.status == JobStatus.SUCCEEDED and final.cancel_requested_at is None


def test_progress_outside_a_job_does_nothing(ctx: Context) -> None:
    report_progress(ctx, "stage", 0.3, "called directly")  # no job running here: no error, no row


def test_cli_shows_and_cancels_a_job(ctx: Context, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from saqshy.jobs.cli import app

    monkeypatch.setattr("saqshy.jobs.cli.get_settings", lambda: ctx.settings)
    key = ctx.jobs.enqueue("test.echo", {"log": str(tmp_path / "log")}, delay=600)
    runner = CliRunner()
    shown = runner.invoke(app, ["jobs", "show", key])
    assert shown.exit_code == 0, shown.output
    assert "queued" in shown.output and "no progress reported" in shown.output
    cancelled = runner.invoke(app, ["jobs", "cancel", key])
    assert cancelled.exit_code == 0 and "cancelled" in cancelled.output
