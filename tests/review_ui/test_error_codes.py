"""Every error code the API can answer with is translated in each interface language."""

from __future__ import annotations

import json
import re

from review_ui import STATIC_DIR
from saqshy.errors import ErrorCode

LOCALES = ("ru", "kk", "en")
# showError's fallbacks when a body has no known code: one message per HTTP status the API uses.
STATUSES = (400, 401, 403, 404, 409, 413, 422, 429, 500, 503)


def _dictionary(locale: str) -> dict[str, str]:
    data: dict[str, str] = json.loads((STATIC_DIR / "i18n" / f"{locale}.json").read_text(encoding="utf-8"))
    return data


def test_every_error_code_and_status_is_translated() -> None:
    wanted = {f"errors.{code.value}" for code in ErrorCode} | {f"errors.http_{s}" for s in STATUSES}
    for locale in LOCALES:
        missing = sorted(wanted - set(_dictionary(locale)))
        assert not missing, f"{locale}: {missing}"


def test_no_error_key_without_a_code() -> None:
    """A translated code the server no longer produces is a sign of a renamed code."""
    known = {code.value for code in ErrorCode} | {f"http_{s}" for s in STATUSES} | {"network"}
    extra = sorted(k for k in _dictionary("ru") if k.startswith("errors.") and k.removeprefix("errors.") not in known)
    assert not extra, extra


def test_raise_sites_name_codes_from_the_registry() -> None:
    """Codes are ``ErrorCode`` members at every raise site, never bare strings."""
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    for package in ("saqshy", "triage_api", "classifier", "crawlers"):
        for path in (root / package).rglob("*.py"):
            source = path.read_text(encoding="utf-8")
            assert not re.search(r"""\bcode\s*=\s*["']""", source), f"{path}: a code given as a string"
