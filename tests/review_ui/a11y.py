"""Accessibility check for the browser tests: axe-core, injected into the page under test from the
copy that the ``axe-playwright-python`` dev dependency ships (nothing is fetched from elsewhere).

    from tests.review_ui.a11y import assert_accessible
    assert_accessible(page, "queue (dark)")

Only "serious" and "critical" findings fail a test; the lesser ones are axe's advice.
"""

from __future__ import annotations

from typing import Any

from axe_playwright_python.sync_playwright import Axe

BLOCKING_IMPACTS = frozenset({"serious", "critical"})
_AXE = Axe()


def axe_violations(page: Any, impacts: frozenset[str] = BLOCKING_IMPACTS) -> list[str]:
    """axe-core's violations on the page as it stands, one readable line each (rule, impact, where)."""
    results = _AXE.run(page)
    found = []
    for violation in results.response["violations"]:
        if violation["impact"] not in impacts:
            continue
        nodes = "; ".join(" ".join(node["target"]) for node in violation["nodes"][:4])
        count = len(violation["nodes"])
        found.append(f"{violation['id']} ({violation['impact']}, {count}x): {violation['help']} at {nodes}")
    return found


def assert_accessible(page: Any, where: str) -> None:
    found = axe_violations(page)
    assert not found, f"{where}:\n  " + "\n  ".join(found)
