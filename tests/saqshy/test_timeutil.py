"""``saqshy.timeutil``: an instant read from text."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from saqshy.timeutil import parse_instant


@pytest.mark.parametrize(
    ("text", "instant"),
    [
        ("2026-10-01", datetime(2026, 10, 1, tzinfo=UTC)),
        ("2026-10-01T12:00", datetime(2026, 10, 1, 12, tzinfo=UTC)),  # naive: taken as UTC
        ("2026-10-01T17:00+05:00", datetime(2026, 10, 1, 12, tzinfo=UTC)),
        (None, None),
    ],
)
def test_parse_instant(text: str | None, instant: datetime | None) -> None:
    parsed = parse_instant(text)
    assert parsed == instant
    assert parsed is None or parsed.tzinfo is UTC


def test_parse_instant_refuses_what_is_not_a_date() -> None:
    with pytest.raises(ValueError):
        parse_instant("yesterday")
