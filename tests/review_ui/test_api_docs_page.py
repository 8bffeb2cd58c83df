"""The API docs page in a real browser: Swagger UI renders under the page's CSP, from this origin only."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.review_ui.conftest import LiveServer

pytestmark = pytest.mark.integration

# Runs before the page's own scripts (injected by the browser, not subject to the page's CSP).
RECORDER = """
window.__violations = [];
document.addEventListener('securitypolicyviolation', (e) => {
  window.__violations.push(e.violatedDirective + ' ' + e.blockedURI);
});
"""


def test_swagger_ui_renders_offline(live_server: LiveServer, browser: Any, screenshots: Path) -> None:
    page = live_server.page(browser)
    console: list[str] = []
    page.on("console", lambda m: console.append(f"{m.type}: {m.text}") if m.type in ("error", "warning") else None)
    page.add_init_script(RECORDER)
    page.goto("/docs")
    claim = page.locator(".opblock", has_text="/tasks/claim").first
    claim.wait_for(state="visible", timeout=30_000)
    # A markdown description (rendered via innerHTML, which the strict policy's Trusted Types forbid).
    page.locator(".info .description").first.wait_for(state="visible")
    # Open one operation: its parameters, responses and roles (the x-roles extension) render too.
    claim.locator(".opblock-summary").click()
    page.locator(".opblock.is-open .responses-wrapper").first.wait_for(state="visible")
    assert "x-roles" in page.locator(".opblock.is-open").first.inner_text()
    page.screenshot(path=str(screenshots / "api-docs.png"), full_page=False)

    assert live_server.foreign_requests(page) == [], "the browser contacted another host"
    assert page.evaluate("() => window.__violations") == [], "CSP blocked something the page needs"
    assert not [m for m in console if "Content Security Policy" in m or "Trusted Type" in m], console
    assert page.saqshy_errors == []
    assert page.saqshy_failed == []
