"""``saqshy train --from-reviews``: records a retraining job for the workers; bad input records none."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select
from typer.testing import CliRunner

from classifier.cli import app
from classifier.retrain import RETRAIN_JOB
from saqshy.context import Context
from saqshy.db.models import JobRecord, JobStatus
from saqshy.db.session import session_scope


def test_train_from_reviews_enqueues_a_job(ctx: Context, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("classifier.cli._settings", lambda: ctx.settings)
    runner = CliRunner()
    bad = runner.invoke(app, ["train", "--from-reviews", "--mode", "huge"])
    assert bad.exit_code == 1 and "mode must be one of" in bad.output
    bad_since = runner.invoke(app, ["train", "--from-reviews", "--since", "last week"])
    assert bad_since.exit_code == 1 and "ISO date" in bad_since.output
    with session_scope(ctx.sessions) as session:
        assert session.scalar(select(func.count()).select_from(JobRecord)) == 0

    queued = runner.invoke(app, ["train", "--from-reviews", "--since", "2026-11-01"])
    assert queued.exit_code == 0, queued.output
    key = queued.stdout.strip()
    assert key.startswith(RETRAIN_JOB) and f"saqshy jobs show {key}" in queued.output
    with session_scope(ctx.sessions) as session:
        record = session.scalars(select(JobRecord).where(JobRecord.key == key)).one()
        assert (record.name, record.status, record.args["since"]) == (RETRAIN_JOB, JobStatus.QUEUED, "2026-11-01")
