"""``saqshy user``, ``saqshy invite``, ``saqshy audit`` (and the escalation groups): mounted by ``saqshy.cli``."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.console import Console

from saqshy.db.models import Role
from triage_api import cli_evidence

console = Console(stderr=True)
app = typer.Typer()

user_app = typer.Typer(help="Accounts (bootstrap the first admin here; then invite people).", no_args_is_help=True)
invite_app = typer.Typer(help="One-time invitations.", no_args_is_help=True)
audit_app = typer.Typer(help="The hash-chained audit log.", no_args_is_help=True)
tasks_app = typer.Typer(help="The review queue.", no_args_is_help=True)
retention_app = typer.Typer(help="Content retention: purge items no one needs any more.", no_args_is_help=True)
app.add_typer(user_app, name="user")
app.add_typer(invite_app, name="invite")
app.add_typer(audit_app, name="audit")
app.add_typer(tasks_app, name="tasks")
app.add_typer(retention_app, name="retention")


def _context():  # type: ignore[no-untyped-def]
    from saqshy.cli import settings
    from saqshy.context import build_context

    return build_context(settings())


@user_app.command("create")
def user_create(
    email: Annotated[str, typer.Option(help="Login e-mail.")],
    role: Annotated[Role, typer.Option(help="Role of the account.")] = Role.ADMIN,
    password: Annotated[
        str,
        typer.Option(prompt=True, hide_input=True, confirmation_prompt=True,
                     help="At least 12 characters; not a common or guessable one."),
    ] = "",
    display_name: Annotated[str | None, typer.Option(help="Shown to colleagues.")] = None,
) -> None:
    """Create an account directly (the first admin; everyone else should come by invitation)."""
    from triage_api.services import users

    ctx = _context()
    try:
        with ctx.sessions.begin() as session:
            user = users.create_user(session, ctx.settings, email=email, password=password, role=role,
                                     display_name=display_name)
            console.print(f"created {user.role.value} {user.email} (id {user.id}, pseudonym {user.pseudonym})")
    finally:
        ctx.close()


@invite_app.command("create")
def invite_create(
    role: Annotated[Role, typer.Option(help="Role the invite grants.")] = Role.VOLUNTEER,
    email: Annotated[str | None, typer.Option(help="Bind the invite to this e-mail.")] = None,
    ttl_hours: Annotated[int | None, typer.Option(help="Hours the invite stays valid.")] = None,
    base_url: Annotated[str, typer.Option(help="Public URL of the UI, for the printed link.")] = "",
) -> None:
    """Issue a one-time invite (as the installation, not as a user); prints the link once."""
    from datetime import timedelta

    from saqshy.db.models import Invite
    from saqshy.timeutil import utcnow
    from triage_api.services import security, users
    from triage_api.services.audit import append_audit

    ctx = _context()
    try:
        with ctx.sessions.begin() as session:
            key = users.validate_email(email) if email else None
            token = security.new_secret()
            invite = Invite(token_sha256=security.sha256_hex(token), email=key, role=role, created_by_id=None,
                            expires_at=utcnow() + timedelta(hours=ttl_hours or ctx.settings.triage_invite_ttl_hours))
            session.add(invite)
            session.flush()
            append_audit(session, actor_id=None, action="invite.create", entity_type="invite", entity_id=invite.id,
                         payload={"role": role.value, "email": key, "via": "cli"})
        base = base_url.rstrip("/") or f"http://{ctx.settings.host}:{ctx.settings.port}"
        console.print(f"invite {invite.id} for a {role.value}, valid until {invite.expires_at:%Y-%m-%d %H:%M} UTC")
        typer.echo(f"{base}/invite/{token}")
    finally:
        ctx.close()


@audit_app.command("verify")
def audit_verify() -> None:
    """Chain pending entries, walk the audit chain and check it against every signed checkpoint;
    exit 0 if intact (and sign the head as a new checkpoint), 1 if any entry was edited, removed or rewritten."""
    from triage_api.services.audit_checkpoints import verify_audit_log

    ctx = _context()
    try:
        with ctx.sessions() as session:
            result = verify_audit_log(session, ctx.settings)
    finally:
        ctx.close()
    if result.ok:
        typer.echo(f"audit log intact: {result.entries} entries, head {result.head_hash}, "
                   f"{result.checkpoints} signed checkpoints match")
        return
    where = f" at position {result.first_bad_position}" if result.first_bad_position is not None else ""
    typer.echo(f"audit log FAILED{where} ({result.entries} entries, {result.checkpoints} checkpoints):")
    for problem in result.problems:
        typer.echo(f"  {problem}")
    raise typer.Exit(1)


@tasks_app.command("sync")
def tasks_sync() -> None:
    """Turn new scores into review tasks now (the scoring job does this after each batch)."""
    from triage_api.services.queue import sync_tasks_job

    ctx = _context()
    try:
        typer.echo(f"{sync_tasks_job(ctx)} new tasks")
    finally:
        ctx.close()


@retention_app.command("run")
def retention_run(
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Only show what would be purged.")] = False,
) -> None:
    """Purge items past their category's retention that were never flagged or were decided legal.

    Items in a case, and their near-duplicates, are on legal hold. Settings: SAQSHY_RETENTION_DAYS.
    """
    from triage_api.services.retention import run_retention

    ctx = _context()
    try:
        report = run_retention(ctx.sessions, ctx.settings, dry_run=dry_run)
    finally:
        ctx.close()
    verb = "would purge" if dry_run else "purged"
    per_category = ", ".join(f"{name}: {count}" for name, count in sorted(report.purged.items())) or "nothing"
    typer.echo(f"{verb} {report.total} items ({per_category}); {report.held} on legal hold; "
               f"{report.deferred} wait for a WARC file still being written")
    if not dry_run and report.total:
        typer.echo(f"WARC files rewritten: {report.warc_files_rewritten}, deleted: {report.warc_files_deleted}; "
                   f"thumbnails deleted: {report.thumbnails_deleted}")


# Escalation: `saqshy evidence verify`, `saqshy escalation ...` live in cli_evidence.
app.registered_groups.extend(cli_evidence.app.registered_groups)
app.registered_commands.extend(cli_evidence.app.registered_commands)
