"""Time in UTC, the one way: every timestamp Saqshy writes is timezone-aware UTC.

SQLite hands timestamps back naive (they were stored as UTC); ``as_utc`` makes any datetime
aware UTC, as ``saqshy.db.models.UtcDateTime`` does on load.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import overload


def utcnow() -> datetime:
    return datetime.now(UTC)


@overload
def as_utc(value: datetime) -> datetime: ...
@overload
def as_utc(value: None) -> None: ...
@overload
def as_utc(value: datetime | None) -> datetime | None: ...
def as_utc(value: datetime | None) -> datetime | None:
    """The same instant, aware, in UTC (a naive value is taken as UTC); None stays None."""
    if value is None:
        return None
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value if value.tzinfo is UTC else value.astimezone(UTC)


def iso(value: datetime | None) -> str | None:
    """RFC 3339 in UTC (``2026-01-01T12:00:00+00:00``); None stays None."""
    return None if value is None else as_utc(value).isoformat()


def parse_instant(text: str | None) -> datetime | None:
    """An ISO 8601 date or date-time as an instant in UTC (a naive one is taken as UTC); None stays None.

    ValueError when ``text`` is not one: the caller says so in its own words.
    """
    return None if text is None else as_utc(datetime.fromisoformat(text))
