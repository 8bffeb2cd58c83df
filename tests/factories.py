"""Factories for test data: plain functions returning valid inputs, overridable per field."""

from __future__ import annotations

import itertools
from typing import Any

_counter = itertools.count(1)

TEXTS = {
    "ru": "Продаю закладки, пишите в личку, доставка по Алматы",
    "kk": "Жаңа жұмыс ұсынысы: күніне елу мың теңге, тәжірибе қажет емес",
    "en": "Police warn residents about a new phone scam targeting pensioners",
}


def item_data(**overrides: Any) -> dict[str, Any]:
    n = next(_counter)
    language = overrides.pop("language", "ru")
    data: dict[str, Any] = {
        "url": f"https://example.test/posts/{n}?utm_source=feed",
        "canonical_url": f"https://example.test/posts/{n}",
        "language": language,
        "title": f"Post {n}",
        "text": f"{TEXTS.get(language, TEXTS['en'])} #{n}",
    }
    data.update(overrides)
    return data
