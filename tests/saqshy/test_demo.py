"""``saqshy demo`` as the README's ``make demo`` runs it: a real process on the embedded defaults."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

from sqlalchemy import select

from saqshy.context import build_context
from saqshy.db.models import JobRecord, JobStatus, utcnow
from saqshy.db.session import session_scope
from saqshy.settings import Settings
from tests.classifier.conftest import tiny_base, tiny_registry  # noqa: F401 - fixtures

SAQSHY = [sys.executable, "-c", "from saqshy.cli import run; run()"]


def test_demo_is_not_held_up_by_a_job_a_stopped_server_left_queued(
    tiny_registry: tuple[Settings, str],  # noqa: F811 - the fixture imported above
    tmp_path: Path,
) -> None:
    """A stopped ``saqshy serve`` leaves its recurring jobs queued in the store; a second ``make demo``
    used to wait for them (up to 15 minutes) although only the next server runs them."""
    registry, _version = tiny_registry
    settings = registry.model_copy(update={"var_dir": tmp_path / "var"})
    ctx = build_context(settings)
    try:
        with session_scope(ctx.sessions) as session:
            session.add(JobRecord(key="escalation.sweep:left-over", name="escalation.sweep", args={},
                                  status=JobStatus.QUEUED, attempts=0, max_attempts=5, enqueued_at=utcnow(),
                                  next_attempt_at=utcnow()))
    finally:
        ctx.close()
    env = {k: v for k, v in os.environ.items() if not k.startswith("SAQSHY_")} | {
        "SAQSHY_VAR_DIR": str(settings.var_dir),
        "SAQSHY_MODELS_DIR": str(settings.models_dir),
        "SAQSHY_BASE_MODEL": str(settings.base_model),
        "SAQSHY_TRIAGE_ARGON2_TIME_COST": "1",
        "SAQSHY_TRIAGE_ARGON2_MEMORY_KIB": "1024",
    }

    started = time.monotonic()
    result = subprocess.run([*SAQSHY, "demo", "--items", "12"], env=env, capture_output=True, text=True,
                            timeout=240)
    elapsed = time.monotonic() - started

    assert result.returncode == 0, result.stderr[-2000:]
    assert "review queue:" in result.stderr and "open tasks" in result.stderr
    assert "scoring not finished" not in result.stderr
    assert elapsed < 120, f"the demo took {elapsed:.0f} s"
    ctx = build_context(settings, migrate=False)
    try:
        with session_scope(ctx.sessions) as session:
            jobs = {r.key: r.status for r in session.scalars(select(JobRecord))}
    finally:
        ctx.close()
    assert jobs.pop("escalation.sweep:left-over") == JobStatus.QUEUED  # the next server runs it
    assert [status for key, status in jobs.items() if key.startswith("score_items")] == [JobStatus.SUCCEEDED]


def test_the_demo_picks_the_same_sample_items_in_every_process() -> None:
    code = "from saqshy.demo import SEED_DIR, _seed_examples; print([e['id'] for e in _seed_examples(SEED_DIR, 40)])"
    picks = {subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                            env=os.environ | {"PYTHONHASHSEED": seed}).stdout for seed in ("1", "2")}
    assert len(picks) == 1 and picks.pop().count(",") == 39
