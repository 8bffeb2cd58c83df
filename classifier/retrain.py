"""Retraining from the reviews, as a job on the jobs port (``classifier.retrain``).

export the decisions (classifier.dataset) -> train on them plus the base data (classifier.train)
-> run the gate against production (classifier.gate). The new version is registered, never made
production here (unless there is none yet): promotion is a person's call (classifier.promotion).
The job reports its stage, progress and ETA, and stops at its next report once cancelled.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from saqshy.db.session import session_scope
from saqshy.errors import InvalidInput
from saqshy.jobs import names, report_progress
from saqshy.jobs.registry import job
from saqshy.timeutil import parse_instant

if TYPE_CHECKING:
    from classifier.train import TrainConfig
    from saqshy.context import Context

RETRAIN_JOB = names.RETRAIN
MODES = ("fast", "full")
# Share of the progress bar each stage ends at.
STAGE_END = {"export": 0.1, "train": 0.85, "gate": 1.0}


def parse_since(since: str | None) -> datetime | None:
    try:
        return parse_instant(since)
    except ValueError:
        raise InvalidInput(f"since must be an ISO date or date-time, not {since!r}") from None


def check_request(mode: str, since: str | None) -> None:
    """Refuse at enqueue time what the job would refuse: bad input records no job."""
    if mode not in MODES:
        raise InvalidInput(f"mode must be one of {', '.join(MODES)}, not {mode!r}")
    parse_since(since)


def enqueue_retrain(ctx: Context, *, mode: str = "fast", since: str | None = None,
                    base_data: list[str] | None = None) -> str:
    """Enqueue one retraining run; returns its job key (each request is a run of its own)."""
    check_request(mode, since)
    stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
    args: dict[str, Any] = {"mode": mode, "since": since, "base_data": base_data}
    return ctx.jobs.enqueue(RETRAIN_JOB, args, key=f"{RETRAIN_JOB}:{stamp}-{uuid.uuid4().hex[:8]}")


class _TrainProgress:
    """Training reports messages, not fractions: each one moves the bar part of the way to the stage's end."""

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self.fraction = STAGE_END["export"]

    def __call__(self, message: str) -> None:
        self.fraction += (STAGE_END["train"] - self.fraction) * 0.15
        report_progress(self.ctx, "train", self.fraction, message)


# One attempt: a retry after a crash would train a second version of the same data.
@job(RETRAIN_JOB, max_attempts=1, timeout=6 * 3600)
def retrain(ctx: Context, mode: str = "fast", since: str | None = None,
            base_data: list[str] | None = None) -> dict[str, Any]:
    """Export the decisions, train a candidate on them plus the base data, gate it against production."""
    from classifier.train import TrainConfig

    check_request(mode, since)
    return retrain_with(ctx, TrainConfig(mode=mode), since=since, base_data=base_data)


def retrain_with(ctx: Context, config: TrainConfig, *, since: str | None = None,
                 base_data: list[str] | None = None) -> dict[str, Any]:
    """The job's work with a given training configuration (benchmarks.retrain shortens full mode's epochs)."""
    from classifier.dataset import export_dataset
    from classifier.gate import run_gate
    from classifier.taxonomy import load_taxonomy
    from classifier.train import train

    check_request(config.mode, since)
    taxonomy = load_taxonomy()
    report_progress(ctx, "export", 0.01, "exporting the decisions")
    with session_scope(ctx.sessions) as session:
        export = export_dataset(session, taxonomy, ctx.settings.datasets_dir, since=parse_since(since))
    report_progress(ctx, "export", STAGE_END["export"], f"dataset {export.version}: {export.manifest['examples']} "
                    "examples", {"dataset": export.version})
    files = [Path(p) for p in base_data] if base_data else [ctx.settings.seed_data]
    version = train(ctx.settings, taxonomy, [*files, export.path], config, progress=_TrainProgress(ctx))
    report_progress(ctx, "gate", STAGE_END["train"], f"{version}: scoring the held-out set with both models",
                    {"dataset": export.version, "version": version})
    report = run_gate(ctx.settings, version)
    result = {"dataset": export.version, "version": version, "gate_passed": bool(report["passed"]),
              "gate_failures": list(report.get("failures", []))}
    verdict = "passes the gate" if report["passed"] else "fails the gate: " + ", ".join(report["failures"])
    report_progress(ctx, "done", 1.0, f"{version} {verdict}", result)
    return result
