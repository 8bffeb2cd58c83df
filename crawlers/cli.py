"""Crawler commands, mounted into ``saqshy``: ``source add|list``, ``crawl``, ``items export``."""

from __future__ import annotations

import sys
from datetime import datetime
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from saqshy.db.models import SourceKind
from saqshy.timeutil import parse_instant

console = Console(stderr=True)
app = typer.Typer(no_args_is_help=True, help="Crawling: sources, crawls, item export.")
source_app = typer.Typer(no_args_is_help=True, help="Sources to crawl (sites, forums, Telegram channels, feeds).")
items_app = typer.Typer(no_args_is_help=True, help="Collected content items.")
app.add_typer(source_app, name="source")
app.add_typer(items_app, name="items")


def _settings():  # type: ignore[no-untyped-def]
    from saqshy.settings import get_settings

    return get_settings()


@source_app.command("add")
def source_add(
    url: Annotated[str, typer.Argument(help="Start URL; for Telegram also @channel or t.me/channel.")],
    kind: Annotated[SourceKind, typer.Option("--kind", help="site, forum, telegram or feed.")] = SourceKind.SITE,
    every: Annotated[str, typer.Option("--every", help="Recrawl interval: 30m, 6h, 1d.")] = "6h",
    depth: Annotated[int, typer.Option("--depth", help="Link depth from the start URL (sites).")] = 2,
    name: Annotated[str | None, typer.Option("--name", help="Unique name (default: from the URL).")] = None,
    max_items: Annotated[int | None, typer.Option("--max-items", help="Stop a crawl after N items.")] = None,
    read_back: Annotated[
        str | None,
        typer.Option(
            "--read-back",
            help="Telegram: how far back each crawl reads the channel: 30d, 12h, a date (2024-01-31) or all "
            "(default 90d).",
        ),
    ] = None,
) -> None:
    """Add a source to crawl."""
    from saqshy.context import build_context
    from saqshy.db.session import session_scope
    from saqshy.services.sources import add_source

    settings = _settings()
    ctx = build_context(settings)
    try:
        with session_scope(ctx.sessions) as session:
            source = add_source(
                session,
                url,
                kind,
                policy=settings.address_policy,
                every=every,
                depth=depth,
                name=name,
                max_items=max_items,
                read_back=read_back,
            )
            console.print(f"added source {source.id} [bold]{source.name}[/bold] ({source.kind}) {source.url}")
    finally:
        ctx.close()


@source_app.command("read-back")
def source_read_back(
    source: Annotated[str, typer.Argument(help="Telegram source name or id.")],
    read_back: Annotated[str, typer.Argument(help="30d, 12h, a date (2024-01-31) or all.")],
) -> None:
    """Change how far back each crawl reads a Telegram channel."""
    from saqshy.context import build_context
    from saqshy.db.session import session_scope
    from saqshy.services.sources import set_read_back

    ctx = build_context(_settings())
    try:
        with session_scope(ctx.sessions) as session:
            changed = set_read_back(session, source, read_back)
            console.print(f"source [bold]{changed.name}[/bold] now reads back {read_back.strip()}")
    finally:
        ctx.close()


@source_app.command("list")
def source_list(
    candidates: Annotated[bool, typer.Option("--candidates", help="Only discovered candidate sources.")] = False,
) -> None:
    """List sources with their schedule and risk."""
    from saqshy.context import build_context
    from saqshy.db.session import session_scope
    from saqshy.netpolicy import without_credentials
    from saqshy.services.sources import SourceOrder, list_sources, recrawl_interval_seconds

    settings = _settings()
    ctx = build_context(settings)
    try:
        with session_scope(ctx.sessions) as session:
            table = Table()
            for column in ("id", "name", "kind", "url", "every", "depth", "risk", "last crawl", "next crawl", "state"):
                table.add_column(column)
            listed = list_sources(session, candidates=True if candidates else None, include_rejected=True,
                                  order=SourceOrder.ADDED, limit=None)
            for s in listed.items:
                state = "candidate" if s.is_candidate else ("enabled" if s.enabled else "disabled")
                table.add_row(
                    str(s.id),
                    s.name,
                    str(s.kind),
                    without_credentials(s.url),
                    f"{recrawl_interval_seconds(s, settings) // 60}m",
                    str(s.max_depth),
                    f"{s.risk_score:.2f}",
                    f"{s.last_crawled_at:%Y-%m-%d %H:%M}" if s.last_crawled_at else "-",
                    f"{s.next_crawl_at:%Y-%m-%d %H:%M}" if s.next_crawl_at else "due",
                    state,
                )
            # Piped output (a script, a test) gets full names rather than a table cut to 80 columns.
            Console(width=None if sys.stdout.isatty() else 240).print(table)
    finally:
        ctx.close()


@app.command("crawl")
def crawl(
    sources: Annotated[list[str] | None, typer.Argument(help="Source names or ids (default: all due).")] = None,
    crawl_key: Annotated[
        str | None,
        typer.Option("--crawl-key", help="Distributed mode: processes given the same key split one crawl."),
    ] = None,
    progress: Annotated[bool, typer.Option(help="Live progress table.")] = True,
) -> None:
    """Crawl sources now, with live progress and a summary."""
    from crawlers.runner import crawl_in_process, summary_table

    summary = crawl_in_process(_settings(), sources or None, progress=progress, crawl_key=crawl_key, console=console)
    if not summary.sources:
        console.print("no source is due (use `saqshy source list`, or name sources to crawl now)")
        return
    console.print(summary_table(summary))
    for source in summary.sources:
        if source.note:
            console.print(f"[yellow]{source.name}:[/yellow] {source.note}")


def _parse_since(value: str | None) -> datetime | None:
    try:
        return parse_instant(value)
    except ValueError:
        raise typer.BadParameter(f"not a date: {value!r} (use e.g. 2026-10-01 or 2026-10-01T12:00)") from None


@items_app.command("export")
def items_export(
    since: Annotated[str | None, typer.Option("--since", help="Only items fetched since this date.")] = None,
    source: Annotated[str | None, typer.Option("--source", help="Only items of this source.")] = None,
    output: Annotated[Path | None, typer.Option("--output", "-o", help="File to write (default: stdout).")] = None,
) -> None:
    """Export items as JSON Lines."""
    from crawlers.export import export_items
    from saqshy.context import build_context
    from saqshy.db.session import session_scope

    since_at = _parse_since(since)
    ctx = build_context(_settings())
    try:
        with session_scope(ctx.sessions) as session:
            if output is None:
                count = export_items(session, sys.stdout, since=since_at, source=source)
            else:
                with output.open("w", encoding="utf-8") as out:
                    count = export_items(session, out, since=since_at, source=source)
        console.print(f"exported {count} items")
    finally:
        ctx.close()
