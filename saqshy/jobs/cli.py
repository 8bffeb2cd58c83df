"""``saqshy worker`` and ``saqshy jobs …``: run the RQ worker, inspect and retry jobs."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from saqshy.jobs.base import JobInfo, JobQueue
from saqshy.settings import Settings, get_settings

app = typer.Typer(no_args_is_help=True)
jobs_app = typer.Typer(help="Background jobs: list them, see failures, retry, requeue.", no_args_is_help=True)
app.add_typer(jobs_app, name="jobs")
console = Console()


@app.command()
def worker(
    burst: Annotated[bool, typer.Option(help="Quit when no job is left to run.")] = False,
    poll: Annotated[float, typer.Option(min=0.1, help="Embedded mode: seconds between looks at the store.")] = 5.0,
) -> None:
    """Run jobs: an RQ worker when SAQSHY_REDIS_URL is set, else the in-process pool.

    Either way, jobs the store holds as queued or retrying are handed over first. In embedded
    mode the pool also picks up, every POLL seconds, jobs other processes recorded.
    """
    settings = get_settings()
    if settings.metrics_port is not None:
        from saqshy.metrics import start_worker_server

        start_worker_server(settings.metrics_port)
    if settings.redis_url:
        from saqshy.jobs.rq_queue import run_worker

        run_worker(settings, burst=burst)
        return
    _embedded_worker(settings, burst=burst, poll=poll)


def _embedded_worker(settings: Settings, *, burst: bool, poll: float) -> None:
    import saqshy.jobs.catalog  # noqa: F401
    from saqshy.context import build_context
    from saqshy.jobs.inprocess import InProcessJobQueue
    ctx = build_context(settings)
    pool = InProcessJobQueue(settings, ctx.sessions, context=ctx)
    try:
        while True:
            pool.requeue_pending()
            drained = pool.wait_drained(None if burst else poll)
            counts = pool.counts()
            console.print("  ".join(f"{name}: {count}" for name, count in counts.items()))
            if burst and drained:
                break
    except KeyboardInterrupt:
        console.print("stopping: running jobs finish, queued ones stay queued in the store")
    finally:
        pool.close()
        ctx.close()


EMBEDDED_HINT = "jobs run in `saqshy serve` or `saqshy worker` (embedded mode, no SAQSHY_REDIS_URL)"


@contextmanager
def _queue() -> Iterator[tuple[JobQueue, bool]]:
    """The job queue for one command, and whether it is the embedded (in-process) one.

    Embedded, the command gets a pool that is never started: it records and inspects, and
    leaves the running to ``saqshy serve`` or ``saqshy worker``, which hand over pending jobs
    when they start.
    """
    from saqshy.context import build_context
    from saqshy.jobs.inprocess import InProcessJobQueue

    settings = get_settings()
    ctx = build_context(settings)
    embedded = not settings.redis_url
    queue = InProcessJobQueue(settings, ctx.sessions, autostart=False) if embedded else ctx.jobs
    try:
        yield queue, embedded
    finally:
        if embedded:
            queue.close()
        ctx.close()


def _table(jobs: list[JobInfo], title: str) -> Table:
    table = Table(title=title)
    for column in ("key", "name", "status", "attempts", "enqueued", "last error"):
        table.add_column(column, overflow="fold")
    for info in jobs:
        error = info.last_error.splitlines()[0] if info.last_error else ""
        table.add_row(
            info.key,
            info.name,
            info.status.value,
            f"{info.attempts}/{info.max_attempts}",
            info.enqueued_at.strftime("%Y-%m-%d %H:%M:%S"),
            error,
        )
    return table


def _json(info: JobInfo) -> str:
    return json.dumps(asdict(info), default=str, ensure_ascii=False)


@jobs_app.command("list")
def list_jobs(
    status: Annotated[str | None, typer.Option(help="queued, running, retrying, succeeded or failed.")] = None,
    limit: Annotated[int, typer.Option(min=1)] = 50,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object per line.")] = False,
) -> None:
    """List jobs, newest first, with a count per status."""
    with _queue() as (queue, _):
        found = queue.list_jobs(status, limit=limit)
        if as_json:
            for info in found:
                typer.echo(_json(info))
            return
        console.print(_table(found, "jobs"))
        console.print("  ".join(f"{name}: {count}" for name, count in queue.counts().items()))


@jobs_app.command("failed")
def failed_jobs(
    limit: Annotated[int, typer.Option(min=1)] = 50,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object per line.")] = False,
) -> None:
    """Jobs that ran out of attempts, with their last error."""
    with _queue() as (queue, _):
        found = queue.failed(limit=limit)
        if as_json:
            for info in found:
                typer.echo(_json(info))
            return
        console.print(_table(found, "failed jobs"))


def _describe_progress(info: JobInfo) -> str:
    progress = info.progress or {}
    if not progress:
        return "no progress reported"
    eta = progress.get("eta_seconds")
    return (
        f"{progress.get('stage')}: {100 * float(progress.get('fraction') or 0):.0f}%"
        + (f", about {eta:.0f}s left" if isinstance(eta, int | float) and info.status == "running" else "")
        + (f" - {progress['message']}" if progress.get("message") else "")
    )


@jobs_app.command("show")
def show_job(
    key: Annotated[str, typer.Argument(help="The job's key.")],
    as_json: Annotated[bool, typer.Option("--json", help="The job as one JSON object.")] = False,
) -> None:
    """One job: status, attempts, progress (stage, share done, ETA), last error."""
    from saqshy.errors import NotFound

    with _queue() as (queue, _):
        info = queue.get(key)
        if info is None:
            raise NotFound(f"no job with key {key!r}")
        if as_json:
            typer.echo(_json(info))
            return
        console.print(f"{info.key} ({info.name}): {info.status.value}, attempt {info.attempts}/{info.max_attempts}")
        console.print(_describe_progress(info))
        if info.cancel_requested_at and info.status == "running":
            console.print("cancel requested: it stops at its next progress report")
        if info.last_error:
            console.print(info.last_error.splitlines()[0])


@jobs_app.command("cancel")
def cancel_job(key: Annotated[str, typer.Argument(help="The job's key.")]) -> None:
    """Cancel a job: one not started ends now, a running one at its next progress report."""
    with _queue() as (queue, _):
        info = queue.cancel(key)
        console.print(f"job {key} " + ("cancelled" if info.status == "failed" else "will stop at its next report"))


@jobs_app.command("retry")
def retry_job(key: Annotated[str, typer.Argument(help="The failed job's key.")]) -> None:
    """Queue a failed job again."""
    with _queue() as (queue, embedded):
        queue.retry(key)
        console.print(f"job {key} queued again" + (f"; {EMBEDDED_HINT}" if embedded else ""))


@jobs_app.command("requeue")
def requeue(
    stale_after: Annotated[
        float | None,
        typer.Option(help="Also requeue jobs marked running for more than this many seconds (dead worker)."),
    ] = None,
) -> None:
    """Hand every queued or retrying job in the store to the queue again (after Redis was lost)."""
    with _queue() as (queue, embedded):
        if embedded:
            reset = queue.reset_stale(stale_after) if stale_after is not None else 0
            console.print(f"{reset} stale running jobs queued again; {EMBEDDED_HINT}")
            return
        count = queue.requeue_pending(stale_after=stale_after)
        console.print(f"{count} pending jobs handed to Redis")
