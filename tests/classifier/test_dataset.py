"""``saqshy dataset export``: decisions -> the data set ``saqshy train --data`` reads, split by time and cluster."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from classifier.data import Example, data_hash, dedupe_clusters, read_examples
from classifier.dataset import MANIFEST, ExportResult, export_dataset, read_ledger
from classifier.errors import InvalidInputError
from classifier.taxonomy import load_taxonomy
from saqshy.context import Context
from saqshy.db.models import CaseOutcome, Verdict
from saqshy.db.session import session_scope
from tests.classifier.review_factories import T0, keyword_reviews, make_decision, make_item


def _export(ctx: Context, out: Path, **kwargs: Any) -> ExportResult:
    with session_scope(ctx.sessions) as session:
        return export_dataset(session, load_taxonomy(), out, **kwargs)


def test_export_labels_each_item_from_its_strongest_source(ctx: Context, tmp_path: Path) -> None:
    with session_scope(ctx.sessions) as session:
        drug = make_item(session, "drug sale", cluster_id=7)
        near = [make_item(session, f"drug sale {s}", cluster_id=7) for s in ("!", "!!")]
        make_decision(session, drug, Verdict.ILLEGAL, "drugs", at=T0)
        legal = make_item(session, "news", lang="en")
        make_decision(session, legal, Verdict.LEGAL, None, at=T0 + timedelta(hours=1), source="moderator")
        overturned = make_item(session, "полиция закладки")
        make_decision(session, overturned, Verdict.ILLEGAL, "drugs", at=T0 + timedelta(hours=2), source="police",
                      outcome=CaseOutcome.NOT_ILLEGAL)
        confirmed = make_item(session, "закладки", lang="xx")
        make_decision(session, confirmed, Verdict.ILLEGAL, "drugs", at=T0 + timedelta(hours=3), source="police",
                      outcome=CaseOutcome.CRIMINAL_CASE_OPENED)
        gold = make_item(session, "сату сату", lang="kk")
        make_decision(session, gold, Verdict.ILLEGAL, "fraud", at=T0 + timedelta(hours=4), source="gold")
        unsure = make_item(session, "abc")
        make_decision(session, unsure, Verdict.UNSURE, None, at=T0 + timedelta(hours=5))
        ids: dict[str, Any] = {"drug": drug.id, "near": [n.id for n in near], "legal": legal.id,
                               "overturned": overturned.id, "confirmed": confirmed.id, "gold": gold.id,
                               "unsure": unsure.id}

    result = _export(ctx, tmp_path / "datasets")
    records = {r["item_id"]: r for r in map(json.loads, (result.path / "reviews.jsonl").read_text().splitlines())}
    assert set(records) == {ids["drug"], *ids["near"], ids["legal"], ids["overturned"], ids["confirmed"], ids["gold"]}
    assert records[ids["drug"]]["labels"] == ["drugs"] and records[ids["drug"]]["label_source"] == "consensus"
    for member in ids["near"]:  # the cluster's decision labels every member, in the same split
        assert records[member]["labels"] == ["drugs"] and records[member]["labelled_by"] == "cluster"
        assert records[member]["cluster"] == records[ids["drug"]]["cluster"] == "cluster-7"
        assert records[member]["split"] == records[ids["drug"]]["split"]
    assert (records[ids["legal"]]["labels"], records[ids["legal"]]["label_source"]) == ([], "moderator")
    assert (records[ids["overturned"]]["labels"], records[ids["overturned"]]["label_source"]) == ([], "police")
    assert (records[ids["confirmed"]]["labels"], records[ids["confirmed"]]["label_source"]) == (["drugs"], "police")
    assert records[ids["confirmed"]]["lang"] == "other"  # a language the data format lacks
    assert (records[ids["gold"]]["labels"], records[ids["gold"]]["label_source"]) == (["fraud"], "gold")

    examples = read_examples([result.path], load_taxonomy())  # exactly what `saqshy train --data` reads
    manifest = json.loads((result.path / MANIFEST).read_text())
    assert manifest == result.manifest
    assert manifest["content_hash"] == data_hash(examples) and manifest["version"] == result.path.name
    assert manifest["examples"] == 7 and manifest["clusters"] == 5
    assert manifest["by_label_source"] == {"consensus": 3, "gold": 1, "moderator": 1, "police": 2}
    assert manifest["by_category"] == {"drugs": 4, "fraud": 1, "legal": 2}
    assert manifest["by_language"] == {"en": 1, "kk": 1, "other": 1, "ru": 4}
    assert manifest["time_range"] == {"first": T0.isoformat(), "last": (T0 + timedelta(hours=4)).isoformat()}
    assert sum(manifest["by_split"].values()) == 7


def test_splits_are_by_time_and_cluster_frozen_and_never_leak_into_training(ctx: Context, tmp_path: Path) -> None:
    out = tmp_path / "datasets"
    with session_scope(ctx.sessions) as session:
        keyword_reviews(session, 40)
    first = read_examples([_export(ctx, out).path], load_taxonomy())
    with session_scope(ctx.sessions) as session:
        keyword_reviews(session, 20, seed=4, start=T0 + timedelta(days=30))
    second = read_examples([_export(ctx, out).path], load_taxonomy())

    def split_of_cluster(examples: list[Example]) -> dict[str, set[str]]:
        splits: dict[str, set[str]] = {}
        for e in examples:
            splits.setdefault(e.cluster, set()).add(e.split)
        return splits

    for examples in (first, second):
        splits = split_of_cluster(examples)
        assert all(len(s) == 1 for s in splits.values())  # a cluster never straddles two splits
        train = dedupe_clusters([e for e in examples if e.split == "train"])
        held_out = [e for e in examples if e.split == "test"]
        assert held_out and train
        # No held-out item, and no near-duplicate of one, is in training.
        assert not {e.id for e in held_out} & {e.id for e in train}
        assert not {e.cluster for e in held_out} & {e.cluster for e in train}
        assert len({e.cluster for e in train}) == len(train)  # a cluster counts once
    # By time: the newest decisions are held out, the next ones calibrate, the oldest train.
    times = {s: sorted(str(e.extra["decided_at"]) for e in first if e.split == s)
             for s in ("train", "calibration", "test")}
    assert times["train"][-1] < times["calibration"][0] <= times["calibration"][-1] < times["test"][0]
    # Frozen: the second export keeps every split the first assigned.
    before = {c: s.pop() for c, s in split_of_cluster(first).items()}
    after = {c: s.pop() for c, s in split_of_cluster(second).items()}
    assert all(after[c] == split for c, split in before.items())
    assert read_ledger(out) == after
    assert {"train", "calibration", "test"} <= {after[c] for c in after if c not in before}


def test_since_and_nothing_to_export(ctx: Context, tmp_path: Path) -> None:
    out = tmp_path / "datasets"
    with pytest.raises(InvalidInputError, match="no decided items"):
        _export(ctx, out)
    assert not out.exists()  # bad input changes nothing
    with session_scope(ctx.sessions) as session:
        keyword_reviews(session, 6)
    recent = _export(ctx, out, since=T0 + timedelta(hours=3))
    assert recent.manifest["time_range"]["first"] == (T0 + timedelta(hours=3)).isoformat()
    assert recent.manifest["since"] == (T0 + timedelta(hours=3)).isoformat()


def test_cli_exports(ctx: Context, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from classifier.cli import app

    monkeypatch.setattr("classifier.cli._settings", lambda: ctx.settings)
    with session_scope(ctx.sessions) as session:
        keyword_reviews(session, 6)
    runner = CliRunner()
    result = runner.invoke(app, ["dataset", "export", "--out", str(tmp_path / "ds"), "--since", "2026-11-01"])
    assert result.exit_code == 0, result.output
    manifest = json.loads(result.stdout)
    assert (tmp_path / "ds" / manifest["version"] / "reviews.jsonl").is_file()
    bad = runner.invoke(app, ["dataset", "export", "--out", str(tmp_path / "ds"), "--since", "yesterday"])
    assert bad.exit_code == 1 and "ISO date" in bad.output
