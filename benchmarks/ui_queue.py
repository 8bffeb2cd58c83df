"""Review UI benchmark: decision key -> next item on screen, against the bare API round trips.

With ``--tasks`` (2,000 by default) open tasks seeded through the services layer into a fresh
SQLite store, a real uvicorn serves Saqshy on loopback and Debian's headless Chromium signs in a
volunteer. In the same run, in the same browser session, it times:

- **ui**: key press -> the next item's DOM in place and the next animation frame (vote request,
  claim request, render), ``--decisions`` times;
- **api**: the same two requests (POST vote, POST claim) issued with ``fetch`` from the page, no
  rendering: the floor the UI cannot beat.

and prints median / p95 of both and the ratio api_median / ui_median (1.0 = the UI adds nothing).

    .venv/bin/python -m benchmarks.ui_queue [--tasks 2000] [--decisions 40] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from saqshy.context import build_context
from saqshy.db.models import Role
from saqshy.settings import Settings
from tests.review_ui.conftest import (
    ARMED_ITEM,
    CHROMIUM,
    CHROMIUM_ARGS,
    UI_SETTINGS,
    Seed,
    uvicorn_server,
)
from tests.review_ui.test_queue_latency import PROBE

API_LOOP = """async (count) => {
  const csrf = decodeURIComponent((document.cookie.match(/saqshy_csrf=([^;]+)/) || [])[1] || '');
  const headers = { 'Content-Type': 'application/json', 'X-CSRF-Token': csrf };
  const post = (path, body) => fetch(path, { method: 'POST', headers, body: JSON.stringify(body || {}),
                                               credentials: 'same-origin' });
  let task = await (await post('/tasks/claim')).json();
  const times = [];
  for (let n = 0; n < count && task; n++) {
    const t0 = performance.now();
    const vote = await post(`/tasks/${task.id}/votes`, { verdict: 'legal' });
    if (!vote.ok) throw new Error('vote ' + vote.status);
    const next = await post('/tasks/claim');
    task = next.status === 204 ? null : await next.json();
    times.push(performance.now() - t0);
  }
  return times;
}"""


def _summary(values: list[float]) -> dict[str, float]:
    ordered = sorted(values)
    return {
        "median_ms": round(statistics.median(ordered), 1),
        "p95_ms": round(ordered[int(0.95 * (len(ordered) - 1))], 1),
        "max_ms": round(ordered[-1], 1),
        "n": len(ordered),
    }


def run(tasks: int, decisions: int) -> dict[str, Any]:
    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory(prefix="saqshy-ui-bench-") as tmp:
        settings = Settings(
            _env_file=None,  # type: ignore[call-arg]
            var_dir=Path(tmp) / "var", models_dir=Path(tmp) / "models",
            database_url=None, elasticsearch_url=None, redis_url=None, **UI_SETTINGS,
        )
        ctx = build_context(settings)
        seed = Seed(ctx)
        started = time.perf_counter()
        seed.tasks(tasks)
        volunteer = seed.user(Role.VOLUNTEER)
        print(f"seeded {tasks} tasks in {time.perf_counter() - started:.1f} s", file=sys.stderr)
        try:
            # A loaded machine can take a while to finish the server's shutdown.
            with uvicorn_server(settings, Path(tmp) / "uvicorn.log", app="triage_api.serving:served_app",
                                stop_seconds=120) as live, sync_playwright() as playwright:
                browser = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
                page = live.page(browser)
                live.sign_in(page, volunteer)
                page.wait_for_selector("#item[data-task-id]:not([data-task-id=''])")
                page.evaluate(PROBE)
                for n in range(decisions):
                    # A fresh item takes no decision for a moment (the UI's guard): wait until it does.
                    page.wait_for_selector(ARMED_ITEM)
                    page.keyboard.press("1")
                    page.wait_for_function("(n) => window.__latencies.length > n", arg=n)
                ui = page.evaluate("() => window.__latencies")
                api = page.evaluate(API_LOOP, decisions)
                browser.close()
        finally:
            ctx.close()
    result = {"tasks": tasks, "ui": _summary(ui), "api": _summary(api)}
    result["ratio_api_to_ui"] = round(result["api"]["median_ms"] / result["ui"]["median_ms"], 2)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tasks", type=int, default=2_000)
    parser.add_argument("--decisions", type=int, default=40)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    if not CHROMIUM.exists():
        sys.exit(f"Chromium not found at {CHROMIUM} (apt install chromium, or set SAQSHY_CHROMIUM)")
    result = run(args.tasks, args.decisions)
    ui, api = result["ui"], result["api"]
    print(f"{result['tasks']} tasks queued, {ui['n']} decisions")
    for label, row in (("ui  key -> next item rendered", ui), ("api vote + claim (fetch only)", api)):
        print(f"  {label}: median {row['median_ms']} ms  p95 {row['p95_ms']} ms  max {row['max_ms']} ms")
    print(f"  ratio api/ui (median): {result['ratio_api_to_ui']}  (target for the UI: p95 under 300 ms)")
    if args.json:
        args.json.write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
