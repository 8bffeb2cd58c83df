"""The ``saqshy`` command. Each package contributes a sub-app; heavy imports stay inside commands."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Annotated

import typer
from pydantic import ValidationError
from rich.console import Console

from classifier import cli as classifier_cli
from crawlers import cli as crawlers_cli
from saqshy.errors import InvalidInput, SaqshyError
from saqshy.jobs import cli as jobs_cli
from saqshy.settings import Settings, get_settings
from triage_api import cli as triage_cli

console = Console(stderr=True)
app = typer.Typer(
    name="saqshy",
    help="Saqshy: crawl public content, score it, review it by consensus, escalate to the police.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
db_app = typer.Typer(help="The store of record (SQLite or PostgreSQL).", no_args_is_help=True)
app.add_typer(db_app, name="db")



def _mount_sub_apps() -> None:
    """Every package's commands and groups become top-level commands of ``saqshy`` (once)."""
    for sub_app in (jobs_cli.app, crawlers_cli.app, classifier_cli.app, triage_cli.app):
        commands = [c for c in sub_app.registered_commands if c not in app.registered_commands]
        groups = [g for g in sub_app.registered_groups if g not in app.registered_groups]
        app.registered_commands.extend(commands)
        app.registered_groups.extend(groups)


def settings() -> Settings:
    try:
        return get_settings()
    except ValidationError as exc:
        problems = "; ".join(
            f"SAQSHY_{'_'.join(str(p) for p in err['loc']).upper()}: {err['msg']}" for err in exc.errors()
        )
        raise InvalidInput(f"invalid settings: {problems}") from None


@app.callback()
def main(verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Log more.")] = False) -> None:
    from saqshy.logs import configure_logging

    configure_logging(settings().log_format, logging.DEBUG if verbose else logging.INFO)
    if not verbose:
        # Alembic logs a dozen set-up lines at INFO on every command; saqshy.db.migrate says
        # in one line when the schema really changed.
        logging.getLogger("alembic").setLevel(logging.WARNING)


@app.command()
def serve(
    host: Annotated[str | None, typer.Option(help="Interface to listen on.")] = None,
    port: Annotated[int | None, typer.Option(help="TCP port.")] = None,
    reload: Annotated[bool, typer.Option(help="Reload on code change (development).")] = False,
    workers: Annotated[
        int,
        typer.Option(min=1, max=64, help="Server processes; one per CPU core in production (not with --reload)."),
    ] = 1,
) -> None:
    """Run the triage API and the review UI (with the in-process job pool on embedded defaults)."""
    import uvicorn

    from saqshy.logs import logging_config

    if reload and workers > 1:
        raise typer.BadParameter("--reload runs one process; leave --workers at 1", param_hint="--workers")
    config = settings()
    bind_host = host or config.host
    bind_port = port or config.port
    console.print(f"Saqshy on http://{bind_host}:{bind_port}  (health: /health, API docs: /docs)"
                  + (f", {workers} worker processes" if workers > 1 else ""))
    if workers > 1 or config.production:
        # Migrate once here: workers starting together would each try to upgrade the schema.
        # In production, say why the server refuses to start before any worker starts.
        from saqshy.context import build_context
        from triage_api.services.security import refuse_insecure_production

        ctx = build_context(config)
        try:
            with ctx.sessions() as session:
                refuse_insecure_production(config, session)
        finally:
            ctx.close()
    if workers > 1:
        from saqshy.metrics import prepare_multiproc_dir

        # Before any worker starts: each one's counters go to this shared folder, summed by /metrics.
        prepare_multiproc_dir(config.var_dir)
    # Several workers share the store safely: jobs are claimed from SQL atomically, periodic jobs
    # are keyed (a second scheduler's enqueue is a no-op), audit entries are chained under the
    # chain head's lock whichever process's sequencer gets there first.
    uvicorn.run(
        "triage_api.serving:served_app",
        factory=True,
        host=bind_host,
        port=bind_port,
        reload=reload,
        workers=workers,
        log_level="info",
        # Applied in each worker process too: the same format, with the request id, everywhere.
        log_config=logging_config(config.log_format),
    )


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Create or migrate the schema to the newest version."""
    from saqshy.context import build_context
    from saqshy.db.migrate import current_revision

    ctx = build_context(settings())
    console.print(f"schema at revision {current_revision(ctx.engine)} ({ctx.engine.url.render_as_string()})")
    ctx.close()


@app.command()
def reindex() -> None:
    """Rebuild the search index from the store of record."""
    from rich.progress import Progress

    from saqshy.context import build_context
    from saqshy.search.indexer import reindex as rebuild

    ctx = build_context(settings())
    try:
        with Progress(console=console) as progress:
            task = progress.add_task("reindexing", total=None)

            def report(done: int, total: int) -> None:
                progress.update(task, completed=done, total=total)

            result = rebuild(ctx, progress=report)
        console.print(
            f"reindexed {result.indexed} of {result.total} items into {type(ctx.search).__name__}"
            + (f", {result.failed} failed (see the log)" if result.failed else "")
        )
    finally:
        ctx.close()


@app.command()
def backup(dest: Annotated[Path, typer.Argument(help="The archive to write (a new .tar.gz file).")]) -> None:
    """Back up the store of record, WARC evidence, media, keys and the production model to one archive."""
    from saqshy.backup import create_backup
    from saqshy.context import build_context

    ctx = build_context(settings())
    try:
        report = create_backup(ctx.settings, ctx.engine, dest, progress=console.print)
    finally:
        ctx.close()
    console.print(f"backup written: {report.path} ({report.files} files, {report.bytes / 1e6:.1f} MB, "
                  f"{report.engine} store, production model {report.production_model or 'none'})")


@app.command()
def restore(src: Annotated[Path, typer.Argument(help="An archive written by `saqshy backup`.")]) -> None:
    """Restore a backup into an empty store and folders, then rebuild the search index from it."""
    from saqshy.backup import restore_backup
    from saqshy.context import build_context
    from saqshy.search.indexer import reindex as rebuild

    config = settings()
    ctx = build_context(config, migrate=False)
    try:
        report = restore_backup(config, ctx.engine, src, progress=console.print)
    finally:
        ctx.close()
    # Migrate after the copy: a backup of an older release is brought up to this one's schema.
    ctx = build_context(config)
    try:
        console.print("rebuilding the search index from the store")
        result = rebuild(ctx)
    finally:
        ctx.close()
    for note in report.notes:
        console.print(note)
    console.print(f"restored {report.files} files and the {report.engine} store; production model "
                  f"{report.production_model or 'none'}; {result.indexed} items indexed. "
                  "Check it: `saqshy audit verify`.")


# How long ``saqshy demo`` waits for its scoring jobs (the first one loads the classifier).
DEMO_SCORING_TIMEOUT_S = 900


@app.command()
def demo(
    password: Annotated[
        str, typer.Option(help="Password of the demo accounts (a demo only: never on a real server).")
    ] = "saqshy-demo-only",
    items: Annotated[int, typer.Option(min=0, max=5000, help="Sample items to load from the seed data set.")] = 120,
    wait: Annotated[bool, typer.Option(help="Wait until the items are scored.")] = True,
) -> None:
    """Create one demo account per role, crawl the bundled sample site and load sample items,
    all scored into the review queue (idempotent)."""
    from saqshy.context import build_context
    from saqshy.demo import ACCOUNTS, DEMO_DOMAIN, seed_demo

    ctx = build_context(settings())
    try:
        report = seed_demo(ctx, password=password, items=items, progress=console.print)
        if wait:
            from saqshy.db.models import JobStatus
            from saqshy.db.session import session_scope
            from triage_api.services.queue import sync_tasks_job
            from triage_api.services.stats import queue_depth

            console.print("scoring the items (the first run loads the model)…")
            # Only the demo's own jobs: a recurring job that a stopped server left queued is run by
            # the next server, not by this command, and must not hold it up.
            if not ctx.jobs.wait_for(report.scoring_jobs, timeout=DEMO_SCORING_TIMEOUT_S):
                console.print(f"[yellow]scoring not finished after {DEMO_SCORING_TIMEOUT_S} s: its jobs stay "
                              "queued and finish under `saqshy serve` or `saqshy worker` "
                              "(`saqshy jobs list`)[/yellow]")
            failed = [key for key in report.scoring_jobs
                      if (info := ctx.jobs.get(key)) is not None and info.status == JobStatus.FAILED]
            if failed:
                console.print(f"[yellow]{len(failed)} scoring jobs failed: see `saqshy jobs failed`[/yellow]")
            created = sync_tasks_job(ctx)
            with session_scope(ctx.sessions) as session:
                open_tasks = sum(depth.open for depth in queue_depth(session))
            console.print(f"review queue: {open_tasks} open tasks ({created} created just now)")
        for name, url in report.site_urls.items():
            console.print(f"crawled {url} as source {name!r}")
        accounts = ", ".join(f"{name}@{DEMO_DOMAIN} ({role})" for name, role in ACCOUNTS)
        console.print(f"accounts: {accounts}; password {password!r}")
        console.print(f"sign in at http://{ctx.settings.host}:{ctx.settings.port}/ once `saqshy serve` runs, "
                      f"e.g. as volunteer1@{DEMO_DOMAIN}")
    finally:
        ctx.close()


@app.command()
def scheduler(tick: Annotated[float, typer.Option(help="Seconds between checks.")] = 1.0) -> None:
    """Enqueue recurring jobs (index catch-up, lease expiry, takedown checks, due crawls).

    ``saqshy serve`` runs one in-process on embedded defaults; with Redis run this once.
    """
    from saqshy.context import build_context
    from saqshy.scheduler import Scheduler, periodic_jobs

    ctx = build_context(settings())
    names = ", ".join(f"{p.name} every {p.every:g}s" for p in periodic_jobs()) or "none"
    console.print(f"scheduler: {names}")
    try:
        runner = Scheduler(ctx, tick=tick)
        runner.run_start_hooks()
        runner.run_forever()
    except KeyboardInterrupt:
        pass
    finally:
        ctx.close()


def run() -> None:
    """Entry point: domain errors are printed as one clear line, not a stack trace."""
    _mount_sub_apps()
    try:
        app()
    except SaqshyError as exc:
        console.print(f"[red]error:[/red] {exc}")
        raise SystemExit(2) from None

