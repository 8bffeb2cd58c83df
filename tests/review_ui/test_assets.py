"""Static checks of the UI's own files: self-contained, no HTML sinks, complete dictionaries."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from review_ui import STATIC_DIR

JS_FILES = sorted((STATIC_DIR / "js").rglob("*.js"))
TEXT_FILES = [*JS_FILES, STATIC_DIR / "index.html", STATIC_DIR / "app.css"]
LOCALES = ("ru", "kk", "en")


def _dictionary(locale: str) -> dict[str, str]:
    data = json.loads((STATIC_DIR / "i18n" / f"{locale}.json").read_text(encoding="utf-8"))
    assert isinstance(data, dict)
    return data


def test_dictionaries_have_the_same_keys_and_no_blanks() -> None:
    ru = _dictionary("ru")
    for locale in LOCALES:
        data = _dictionary(locale)
        assert set(data) == set(ru), f"{locale}: {sorted(set(data) ^ set(ru))}"
        assert all(isinstance(v, str) and v.strip() for v in data.values())
        # Placeholders match the Russian text's.
        for key, text in data.items():
            assert set(re.findall(r"\{(\w+)\}", text)) == set(re.findall(r"\{(\w+)\}", ru[key])), key


def test_every_key_used_in_the_code_is_translated() -> None:
    ru = _dictionary("ru")
    used: set[str] = set()
    for path in JS_FILES:
        source = path.read_text(encoding="utf-8")
        used.update(re.findall(r"""\bt\(\s*"([a-z_][a-z0-9_.]*)\"""", source))
        used.update(re.findall(r"""key:\s*"([a-z_]+\.[a-z0-9_.]+)\"""", source))
    missing = sorted(k for k in used if k not in ru)
    assert not missing, missing
    # Keys built at run time from enums.
    for prefix, values in {
        "case.status.": ("new", "acknowledged", "closed"),
        "case.outcome.": ("takedown_requested", "criminal_case_opened", "not_illegal", "duplicate"),
        "vote.": ("illegal", "legal", "unsure"),
        "role.": ("volunteer", "moderator", "police", "ml_engineer", "admin"),
        "lang.": LOCALES,
    }.items():
        for value in values:
            assert prefix + value in ru


@pytest.mark.parametrize("path", TEXT_FILES, ids=lambda p: p.name)
def test_no_remote_resource_and_no_html_sink(path: Path) -> None:
    source = path.read_text(encoding="utf-8")
    # Only the SVG namespace URI may look like a URL (it is a name, never fetched).
    urls = [u for u in re.findall(r"(?:https?:)?//[a-z0-9.-]+\.[a-z]{2,}[^\s\"'`)]*", source, re.I)
            if u != "http://www.w3.org/2000/svg"]
    assert urls == [], f"{path.name} names a remote resource: {urls}"
    for sink in ("innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval(", "new Function",
                 "setTimeout(\"", "srcdoc", "@import", "url(http"):
        assert sink not in source, f"{path.name} uses {sink}"


def test_index_has_no_inline_script_or_style() -> None:
    html = (STATIC_DIR / "index.html").read_text(encoding="utf-8")
    assert re.search(r"<script(?![^>]*\bsrc=)[^>]*>", html) is None
    assert "<style" not in html and " style=" not in html and " on" not in re.sub(r"<noscript>.*?</noscript>", "", html)
