"""The promotion gate, gated promotion and rollback, on tiny models: a worse model never ships unforced."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from classifier import promotion
from classifier.errors import PromotionRefused, RegistryError
from classifier.gate import REPORT, run_gate
from classifier.registry import Registry
from classifier.taxonomy import load_taxonomy
from classifier.train import train
from saqshy.context import Context
from saqshy.db.models import AuditEntry, JobRecord
from saqshy.db.session import session_scope
from saqshy.errors import InvalidInput
from saqshy.settings import Settings
from tests.classifier.conftest import shuffled_dataset, tiny_dataset, tiny_train_config

Trained = tuple[Path, Path, str, str]  # models folder, seed data, good version, shuffled-label version


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory, tiny_base: Path) -> Trained:
    """A registry with a good production model and a candidate trained on shuffled labels."""
    root = tmp_path_factory.mktemp("gate")
    data = tiny_dataset(root / "data.jsonl")
    settings = Settings(_env_file=None, models_dir=root / "models", base_model=str(tiny_base),
                        var_dir=root / "var", seed_data=data)
    good = train(settings, load_taxonomy(), [data], tiny_train_config(), progress=lambda _: None)
    bad = train(settings, load_taxonomy(), [shuffled_dataset(data, root / "shuffled.jsonl")],
                tiny_train_config(), promote_if_none=False, progress=lambda _: None)
    return root / "models", data, good, bad


@pytest.fixture
def settings(settings: Settings, trained: Trained, tiny_base: Path) -> Settings:
    models, data, *_ = trained
    shutil.copytree(models, settings.models_dir)  # each test changes production in its own copy
    return settings.model_copy(update={"base_model": str(tiny_base), "seed_data": data})


def _audit(ctx: Context, action: str) -> list[AuditEntry]:
    with session_scope(ctx.sessions) as session:
        return list(session.scalars(select(AuditEntry).where(AuditEntry.action == action).order_by(AuditEntry.id)))


def test_the_gate_refuses_a_candidate_trained_on_shuffled_labels(settings: Settings, trained: Trained) -> None:
    *_, good, bad = trained
    report = run_gate(settings, bad)
    assert report["production"] == good and report["passed"] is False
    assert "overall ROC-AUC" in report["failures"]
    assert report["overall"]["candidate"] < report["overall"]["production"]
    assert set(report["per_language"]) >= {"ru", "kk"} and set(report["per_category"]) >= {"drugs", "fraud"}
    assert report["pr_curves"]["illegal"]["production"]["precision"]
    assert report["flips"] and {"id", "candidate", "production", "now_flagged"} <= set(report["flips"][0])
    assert report["heldout"]["examples"] > 0 and len(report["heldout"]["sha256"]) == 64
    stored = json.loads((settings.models_dir / bad / REPORT).read_text())
    assert stored["failures"] == report["failures"]


def test_promotion_is_gated_forced_only_with_a_reason_audited_and_rolled_back(ctx: Context, trained: Trained) -> None:
    *_, good, bad = trained
    registry = Registry(ctx.settings.models_dir)
    with pytest.raises(PromotionRefused, match="fails the gate"):
        promotion.promote(ctx, bad, actor_id=None)
    with pytest.raises(InvalidInput, match="reason"):
        promotion.promote(ctx, bad, actor_id=None, force=True, reason="  ")
    assert registry.production() == good and not _audit(ctx, "model.promote")

    change = promotion.promote(ctx, bad, actor_id=None, force=True, reason="checking the rollback")
    assert registry.production() == bad and change.previous == good and change.forced
    [entry] = _audit(ctx, "model.promote")
    assert entry.entity_id == bad
    assert entry.payload["forced"] is True and entry.payload["reason"] == "checking the rollback"
    assert "overall ROC-AUC" in entry.payload["gate_failures"]
    with session_scope(ctx.sessions) as session:  # re-scoring of the undecided items is on the jobs port
        assert session.scalar(select(JobRecord.name).where(JobRecord.key == change.rescore_job)) == \
            promotion.RESCORE_JOB
    with pytest.raises(PromotionRefused, match="already production"):
        promotion.promote(ctx, bad, actor_id=None, force=True, reason="again")

    back = promotion.rollback(ctx, actor_id=None, reason="worse")
    assert registry.production() == good and (back.version, back.previous) == (good, bad)
    [rolled] = _audit(ctx, "model.rollback")
    assert rolled.payload["reason"] == "worse" and rolled.entity_id == good
    with pytest.raises(PromotionRefused, match="no earlier production"):
        promotion.rollback(ctx, actor_id=None)


def test_cli_promote_refuses_unless_forced_with_a_reason(
    ctx: Context, trained: Trained, monkeypatch: pytest.MonkeyPatch
) -> None:
    from classifier.cli import app

    *_, good, bad = trained
    monkeypatch.setattr("classifier.cli._settings", lambda: ctx.settings)
    runner = CliRunner()
    refused = runner.invoke(app, ["model", "promote", bad])
    assert refused.exit_code == 1 and "fails the gate" in refused.output
    no_reason = runner.invoke(app, ["model", "promote", bad, "--force"])
    assert no_reason.exit_code == 1 and "reason" in no_reason.output
    forced = runner.invoke(app, ["model", "promote", bad, "--force", "--reason", "an experiment"])
    assert forced.exit_code == 0, forced.output
    assert json.loads(forced.stdout)["forced"] is True
    rolled = runner.invoke(app, ["model", "rollback", "--reason", "done"])
    assert rolled.exit_code == 0, rolled.output
    assert Registry(ctx.settings.models_dir).production() == good
    assert [e.actor_id for e in _audit(ctx, "model.promote") + _audit(ctx, "model.rollback")] == [None, None]


def test_registry_history_is_a_stack(tmp_path: Path) -> None:
    registry = Registry(tmp_path)
    for name in ("a", "b", "c"):
        (tmp_path / name).mkdir()
        (tmp_path / name / "spec.json").write_text("{}")
    (tmp_path / "PRODUCTION").write_text("a\n")  # a registry from before the history file
    registry.promote("b")
    registry.promote("c")
    assert registry.history() == ["a", "b", "c"] and registry.previous() == "b"
    assert registry.rollback() == "b" and registry.rollback() == "a"
    with pytest.raises(PromotionRefused):
        registry.rollback()
    with pytest.raises(RegistryError):
        registry.path("PRODUCTION_HISTORY.json")
