"""Training, calibration, registry, inference and explanations on a tiny model built in the test."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from classifier.calibration import Calibration, expected_calibration_error, fit_calibration
from classifier.data import read_examples, split_of
from classifier.engine import MAX_WINDOWS, Scorer, make_windows, plan_batches
from classifier.errors import InvalidInputError, ModelNotFoundError, RegistryError
from classifier.explain import explain, faithfulness
from classifier.model import OVERALL
from classifier.registry import POINTER, Registry
from classifier.taxonomy import load_taxonomy
from classifier.train import TrainConfig, train
from tests.classifier.conftest import tiny_dataset


@pytest.fixture(scope="module")
def scorer(tiny_registry) -> Scorer:
    settings, version = tiny_registry
    return Scorer.from_registry(settings, version)


def test_training_registers_a_complete_version(tiny_registry) -> None:
    settings, version = tiny_registry
    registry = Registry(settings.models_dir)
    path = registry.path(version)
    for name in (
        "spec.json",
        "head.safetensors",
        "calibration.json",
        "thresholds.json",
        "metrics.json",
        "data.json",
        "model_card.md",
        "pr_curves.png",
        "reference.json",
    ):
        assert (path / name).is_file(), name
    data = json.loads((path / "data.json").read_text())
    assert len(data["data_hash"]) == 64
    metrics = json.loads((path / "metrics.json").read_text())
    # the keywords are learnable even through a random tiny encoder
    assert metrics[OVERALL]["roc_auc"] > 0.8
    assert registry.production() == version  # the first version becomes production


def test_training_is_deterministic(tiny_registry, tmp_path: Path) -> None:
    settings, version = tiny_registry
    other = settings.model_copy(update={"models_dir": tmp_path / "models"})
    data = tiny_dataset(tmp_path / "data.jsonl")
    again = train(
        other, load_taxonomy(), [data], TrainConfig(head_steps=200, head_hidden=32, folds=3), progress=lambda _: None
    )
    from safetensors.numpy import load_file

    a = load_file(str(Registry(settings.models_dir).path(version) / "head.safetensors"))
    b = load_file(str(Registry(other.models_dir).path(again) / "head.safetensors"))
    assert all(np.allclose(a[k], b[k]) for k in a)


def test_full_mode_finetunes_the_encoder(tiny_registry, tmp_path: Path) -> None:
    settings, _ = tiny_registry
    other = settings.model_copy(update={"models_dir": tmp_path / "models"})
    data = tiny_dataset(tmp_path / "data.jsonl", n=60)
    version = train(
        other, load_taxonomy(), [data], TrainConfig(mode="full", epochs=1, batch_size=8), progress=lambda _: None
    )
    path = Registry(other.models_dir).path(version)
    assert (path / "encoder" / "model.safetensors").is_file()
    assert Scorer.from_registry(other, version).score(["drug"])[0].score >= 0.0


def test_scores_are_probabilities_and_keyword_ranks_first(scorer: Scorer) -> None:
    results = scorer.score(["news drug sale", "news abc sale", ""])
    for r in results:
        assert 0.0 <= r.score <= 1.0
        assert set(r.probabilities) == set(load_taxonomy().names)
    assert results[0].probabilities["drugs"] > results[1].probabilities["drugs"]


def test_batching_and_order_do_not_change_scores(scorer: Scorer) -> None:
    texts = ["drug", "news abc sale mix " * 30, "сату сату бар", "x"]
    one_by_one = np.stack([scorer.probabilities([t])[0] for t in texts])
    batched = scorer.probabilities(texts)
    reordered = scorer.probabilities(texts[::-1])[::-1]
    assert np.allclose(one_by_one, batched, atol=1e-5)
    assert np.allclose(batched, reordered, atol=1e-5)


def test_batches_cover_every_window_once_within_the_budget_and_pad_little() -> None:
    lengths = sorted([5] * 40 + [30] * 20 + [120] * 9 + [510] * 20 + [2000])
    batches = plan_batches(lengths, batch_tokens=4096, max_batch=64)
    assert [i for start, end in batches for i in range(start, end)] == list(range(len(lengths)))
    for start, end in batches:
        assert end - start <= 64
        assert (end - start) * lengths[end - 1] <= 4096 or end - start == 1  # a longer window alone
    padded = sum((end - start) * lengths[end - 1] for start, end in batches)
    # a greedy fill to 64 rows would pad the 5-token windows to 30 and the 30-token ones to 120
    assert padded <= 1.05 * sum(lengths)
    assert plan_batches([]) == []


def test_long_text_is_windowed_and_the_worst_window_counts(scorer: Scorer) -> None:
    benign = "news abc sale mix " * 12
    hidden = benign + " drug закладки " + benign
    windows, cut = make_windows([hidden], scorer.tokenizer, scorer.spec)
    assert len(windows) > 2 and not cut[0]
    assert all(len(w.ids) <= scorer.spec.max_length for w in windows)
    p_hidden = scorer.probabilities([hidden])[0, 0]
    p_window = scorer.probabilities(["news abc sale mix drug закладки news abc"])[0, 0]
    assert p_hidden >= min(p_window, scorer.probabilities([benign])[0, 0])


def test_shorter_windows_read_as_far_and_never_exceed_the_encoder(scorer: Scorer) -> None:
    spec = scorer.spec
    text = "news abc sale mix " * 3000
    full, _ = make_windows([text], scorer.tokenizer, spec)
    short, cut = make_windows([text], scorer.tokenizer, spec, window=spec.max_length // 2)
    assert cut[0] and len(full) == MAX_WINDOWS and len(short) == 2 * MAX_WINDOWS
    assert all(len(w.ids) <= spec.max_length // 2 for w in short)
    assert max(len(w.ids) for w in full) == spec.max_length
    # never longer than the encoder takes, whatever is asked
    assert max(len(w.ids) for w in make_windows([text], scorer.tokenizer, spec, window=10**6)[0]) == spec.max_length


def test_megabyte_text_is_cut_not_choked(scorer: Scorer) -> None:
    huge = "news abc sale mix " * 60_000  # ~1 MB
    result = scorer.score([huge])[0]
    assert result.truncated
    assert result.windows == MAX_WINDOWS


def test_int8_path_agrees_with_fp32(tiny_registry) -> None:
    settings, version = tiny_registry
    fp32 = Scorer.from_registry(settings, version)
    int8 = Scorer.from_registry(settings, version, quantize=True)
    texts = ["news drug sale", "news abc sale", "сату сату"]
    assert np.allclose(fp32.probabilities(texts), int8.probabilities(texts), atol=0.1)


def test_calibration_fits_and_improves_ece() -> None:
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 2000).astype(np.float32)
    logits = (y * 2 - 1) * 4 + rng.normal(0, 3, 2000)  # overconfident raw scores
    cal = fit_calibration(logits[:, None], y[:, None], ["x"])
    raw = 1 / (1 + np.exp(-logits))
    assert expected_calibration_error(cal.apply(logits[:, None])[:, 0], y) < expected_calibration_error(raw, y)
    assert cal.a[0] > 0  # ranking preserved
    restored = Calibration.from_dict(json.loads(json.dumps(cal.to_dict())))
    assert np.allclose(restored.apply(logits[:, None]), cal.apply(logits[:, None]))


def test_explanation_is_faithful(scorer: Scorer) -> None:
    texts = [f"news abc mix {kw} sale бар ок qwerty" for kw in ("drug", "закладки")] * 3
    spans = explain(scorer, texts[0], 0)
    assert spans and texts[0][spans[0].start : spans[0].end] == spans[0].text
    check = faithfulness(scorer, texts, col=0)
    assert check.texts > 0
    assert check.ok, check


def test_registry_list_show_promote(tiny_registry, tmp_path: Path) -> None:
    settings, version = tiny_registry
    registry = Registry(settings.models_dir)
    assert [v.name for v in registry.list() if v.production] == [version]
    assert registry.show()["name"] == version
    with pytest.raises(ModelNotFoundError, match="no model version"):
        registry.promote("nope")
    with pytest.raises(RegistryError, match="invalid version"):
        registry.path("../etc")
    empty = Registry(tmp_path / "empty")
    with pytest.raises(ModelNotFoundError, match="saqshy train"):
        empty.resolve(None)
    assert (settings.models_dir / POINTER).read_text().strip() == version


def test_bad_training_data(tmp_path: Path) -> None:
    taxonomy = load_taxonomy()
    bad = tmp_path / "bad.jsonl"
    bad.write_bytes(b'{"id": 1, "text": "ok", "labels": []}\n{"id": 2, "text": "\xff\xfe", "labels": []}\n')
    with pytest.raises(InvalidInputError, match=r"bad.jsonl:2: not valid UTF-8"):
        read_examples([bad], taxonomy)
    bad.write_text('{"id": 1, "text": "ok", "labels": ["porn"]}\n')
    with pytest.raises(InvalidInputError, match="unknown category 'porn'"):
        read_examples([bad], taxonomy)
    bad.write_text('{"id": 1, "text": "ok"}\n{"id": 1, "text": "again"}\n')
    with pytest.raises(InvalidInputError, match="duplicate id"):
        read_examples([bad], taxonomy)


def test_seed_data_is_valid_and_split_by_group() -> None:
    examples = read_examples([Path(__file__).resolve().parents[2] / "data" / "seed"], load_taxonomy())
    assert len(examples) >= 600
    assert {e.lang for e in examples} >= {"ru", "kk", "en", "mixed"}
    assert set(load_taxonomy().names) <= {label for e in examples for label in e.labels}
    by_group: dict[str, set[str]] = {}
    for e in examples:
        by_group.setdefault(e.group, set()).add(e.split)
    assert all(len(s) == 1 for s in by_group.values())  # variants never straddle splits
    assert split_of("x") == split_of("x")
