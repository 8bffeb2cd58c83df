"""The runner's side of sources: claiming the due ones, and each Telegram source's read-back date."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from crawlers.runner import targets_for
from saqshy.context import Context
from saqshy.db.session import session_scope
from saqshy.errors import InvalidInput
from saqshy.netpolicy import AddressPolicy
from saqshy.services.sources import add_source

PUBLIC = AddressPolicy()  # public addresses only: the default


def test_due_sources_are_claimed_once(ctx: Context) -> None:
    with session_scope(ctx.sessions) as session:
        add_source(session, "https://a.example.kz/", "site", policy=PUBLIC, every="1h")
        add_source(session, "@some_channel", "telegram", policy=PUBLIC, every="30m")
        disabled = add_source(session, "https://b.example.kz/", "site", policy=PUBLIC)
        disabled.enabled = False
    first = targets_for(ctx)
    assert sorted(t.name for t in first) == ["a.example.kz", "t.me/some_channel"]
    assert targets_for(ctx) == []  # a second crawl started meanwhile takes nothing
    assert [t.name for t in targets_for(ctx, ["b.example.kz"])] == ["b.example.kz"]  # by name: always


def test_telegram_read_back_is_kept_per_source(ctx: Context) -> None:
    with session_scope(ctx.sessions) as session:
        add_source(session, "@default_back", "telegram", policy=PUBLIC)
        add_source(session, "@two_days", "telegram", policy=PUBLIC, read_back="2d")
        add_source(session, "@since_date", "telegram", policy=PUBLIC, read_back="2026-01-31")
        add_source(session, "@everything", "telegram", policy=PUBLIC, read_back="all")
        add_source(session, "https://a.example.kz/", "site", policy=PUBLIC)
        with pytest.raises(InvalidInput):
            add_source(session, "@bad_back", "telegram", policy=PUBLIC, read_back="last tuesday")
        with pytest.raises(InvalidInput):
            add_source(session, "https://b.example.kz/", "site", policy=PUBLIC, read_back="2d")
    now = datetime.now(UTC)
    until = {t.name: t.until for t in targets_for(ctx)}
    assert abs((now - timedelta(days=90)) - until["t.me/default_back"]).total_seconds() < 60  # the default
    assert abs((now - timedelta(days=2)) - until["t.me/two_days"]).total_seconds() < 60
    assert until["t.me/since_date"] == datetime(2026, 1, 31, tzinfo=UTC)
    assert until["t.me/everything"] is None
    assert until["a.example.kz"] is None  # sites read no dates
