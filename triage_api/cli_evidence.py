"""``saqshy evidence``: check a case's evidence bundle, print the public key that verifies it.

Mounted by ``triage_api.cli`` (``app.add_typer(evidence_app, name="evidence")``); ``app`` here
carries the group for ``saqshy.cli``'s sub-app mounting.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from saqshy.errors import InvalidInput

console = Console(stderr=True)
evidence_app = typer.Typer(help="Evidence bundles of police cases.", no_args_is_help=True)
app = typer.Typer()
app.add_typer(evidence_app, name="evidence")


@evidence_app.command("verify")
def verify(
    bundle: Annotated[Path, typer.Argument(help="The case ZIP (GET /cases/{id}/evidence).", dir_okay=False)],
    public_key: Annotated[
        Path | None,
        typer.Option(
            "--public-key",
            help="Ed25519 public key (PEM) from GET /cases/evidence-public-key; "
            "default: the key this installation signs with.",
            dir_okay=False,
        ),
    ] = None,
) -> None:
    """Check the manifest's Ed25519 signature and every file's SHA-256. Exit 0 if intact, 1 if not."""
    from triage_api.services import evidence

    if not bundle.is_file():
        raise InvalidInput(f"{bundle}: no such file")
    if public_key is not None:
        if not public_key.is_file():
            raise InvalidInput(f"{public_key}: no such file")
        key = evidence.load_public_key(public_key.read_bytes())
    else:
        from saqshy.settings import get_settings

        settings = get_settings()
        if not evidence.signing_key_path(settings).exists():
            raise InvalidInput("no signing key on this installation: pass --public-key PEM_FILE")
        key = evidence.load_signing_key(settings).public_key()
    report = evidence.verify_bundle(bundle, key)
    if report.ok:
        console.print(
            f"[green]OK[/green] {bundle}: case {report.case_id}, {report.files} files match the manifest, "
            f"signature valid for {report.public_key}"
        )
        if report.warc_status and report.warc_status != "ok":
            console.print(f"[yellow]note:[/yellow] the bundle records its WARC evidence as {report.warc_status!r}")
        return
    console.print(f"[red]FAILED[/red] {bundle} (key {report.public_key}):")
    for problem in report.problems:
        console.print(f"  - {problem}")
    sys.exit(1)


@evidence_app.command("public-key")
def public_key_cmd() -> None:
    """Print the public key (PEM) that verifies this installation's bundles."""
    from saqshy.settings import get_settings
    from triage_api.services import evidence

    sys.stdout.write(evidence.public_key_pem(get_settings()).decode())


escalation_app = typer.Typer(help="Periodic escalation work (webhooks, takedown checks, source risk).")
app.add_typer(escalation_app, name="escalation")


@escalation_app.command("sweep")
def sweep_now(
    inline: Annotated[
        bool, typer.Option(help="Do the work in this process (cron) instead of enqueuing jobs for the workers.")
    ] = True,
) -> None:
    """Recompute source risk, suggest candidate sources, send pending webhooks, re-check due cases."""
    from saqshy.context import build_context
    from saqshy.db.session import session_scope
    from saqshy.services import sources
    from saqshy.settings import get_settings
    from triage_api.jobs import enqueue_pending
    from triage_api.services import takedown, webhooks

    ctx = build_context(get_settings())
    try:
        with session_scope(ctx.sessions) as session:
            changed, created = sources.refresh_discovery(session, ctx.settings)
        console.print(f"sources: {len(changed)} risk changes, {len(created)} new candidates")
        if not inline:
            console.print(f"enqueued: {enqueue_pending(ctx)}")
            return
        with session_scope(ctx.sessions) as session:
            deliveries = webhooks.pending_delivery_ids(session)
            due = takedown.due_case_ids(session, ctx.settings)
        failed = 0
        for delivery_id in deliveries:
            try:
                webhooks.deliver(ctx.sessions, ctx.settings, delivery_id)
            except Exception as exc:  # recorded on the delivery row; the next sweep tries again
                failed += 1
                console.print(f"[yellow]webhook {delivery_id}:[/yellow] {exc}")
        for case_id in due:
            takedown.check_case(ctx.sessions, ctx.settings, case_id)
        console.print(f"webhooks: {len(deliveries)} tried, {failed} failed; takedown checks: {len(due)}")
    finally:
        ctx.close()


@escalation_app.command("schedule")
def schedule() -> None:
    """Queue the recurring escalation sweep on the jobs port (idempotent; workers then keep it going)."""
    from saqshy.context import build_context
    from saqshy.settings import get_settings
    from triage_api.jobs import schedule_recurring

    ctx = build_context(get_settings())
    try:
        console.print(f"next sweep queued as {schedule_recurring(ctx)}")
    finally:
        ctx.close()
