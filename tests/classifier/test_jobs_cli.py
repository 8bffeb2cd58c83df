"""The scoring job on the jobs port and the offline CLI, on the tiny model."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from classifier.cli import app, classify_file
from classifier.errors import InvalidInputError


def test_score_items_job_writes_scores_once(tiny_registry, tmp_path: Path) -> None:
    from classifier.jobs import score_items
    from saqshy.context import build_context
    from saqshy.db.models import ContentItem, Score
    from saqshy.db.session import session_scope
    from saqshy.jobs.registry import get_job

    settings, version = tiny_registry
    settings = settings.model_copy(update={"var_dir": tmp_path / "var"})
    settings.var_dir.mkdir(parents=True)
    ctx = build_context(settings)
    try:
        with session_scope(ctx.sessions) as session:
            items = [
                ContentItem(
                    url=f"https://example.test/{i}", canonical_url=f"https://example.test/{i}", text=t, sha256="0" * 64
                )
                for i, t in enumerate(["news drug sale", "news abc", ""])
            ]
            session.add_all(items)
            session.flush()
            ids = [i.id for i in items]
        assert get_job("score_items") is score_items
        assert score_items(ctx, [*ids, 999_999]) == {"scored": 3, "requested": 4}
        assert score_items(ctx, ids) == {"scored": 0, "requested": 3}  # idempotent
        with session_scope(ctx.sessions) as session:
            scores = list(session.scalars(select(Score).order_by(Score.item_id)))
        assert [s.model_version for s in scores] == [version] * 3
        assert all(0 <= s.score <= 1 and set(s.probabilities) >= {"drugs"} for s in scores)
    finally:
        ctx.close()


def test_classify_file(tiny_registry, tmp_path: Path) -> None:
    settings, _ = tiny_registry
    src = tmp_path / "in.jsonl"
    src.write_text(
        "\n".join(
            json.dumps({"id": i, "text": t}, ensure_ascii=False)
            for i, t in enumerate(["news drug sale", "", "x" * 1_000_000, "сату сату"])
        )
        + "\n",
        encoding="utf-8",
    )
    out = tmp_path / "out.jsonl"
    assert classify_file(settings, src, out) == 4
    rows = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert [r["id"] for r in rows] == [0, 1, 2, 3]
    for r in rows:
        assert {"score", "probabilities", "spans", "model_version"} <= set(r)
    assert rows[2]["truncated"]


def test_classify_rejects_bad_input_and_writes_nothing(tiny_registry, tmp_path: Path) -> None:
    settings, _ = tiny_registry
    src = tmp_path / "bad.jsonl"
    src.write_bytes(b'{"id": 1, "text": "ok"}\n{"id": 2, "text": "\xff\xfe bad"}\n{"text": "no id"}\nnot json\n')
    out = tmp_path / "out.jsonl"
    with pytest.raises(InvalidInputError) as info:
        classify_file(settings, src, out)
    message = str(info.value)
    assert "bad.jsonl:2: not valid UTF-8" in message and "bad.jsonl:3" in message and "bad.jsonl:4" in message
    assert not out.exists() and not list(tmp_path.glob(".out.jsonl*"))


def test_cli_errors_are_one_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from saqshy import settings as settings_module
    from saqshy.settings import Settings

    monkeypatch.setattr(settings_module, "get_settings", lambda: Settings(models_dir=tmp_path))
    result = CliRunner().invoke(app, ["model", "show"])
    assert result.exit_code == 1
    assert "no production model" in result.output and "Traceback" not in result.output
    result = CliRunner().invoke(app, ["model", "list"])
    assert result.exit_code == 0 and "no model versions" in result.output
