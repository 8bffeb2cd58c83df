"""The ONNX Runtime int8 path: build, fusion, check, default selection and the torch fallbacks."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from classifier import onnx_int8
from classifier.data import read_examples
from classifier.engine import MAX_WINDOWS, Scorer, make_windows
from classifier.registry import Registry
from classifier.taxonomy import load_taxonomy
from tests.classifier.conftest import tiny_dataset

pytest.importorskip("onnxruntime")
pytest.importorskip("onnx")

TEXTS = ["drug", "news abc sale mix " * 30, "сату сату бар", "x", "news drug sale", "полиция закладки"]


@pytest.fixture(scope="module")
def built(tiny_registry, tmp_path_factory: pytest.TempPathFactory):
    """A copy of the tiny registry whose version has a checked int8 model (other tests' stays without)."""
    settings, version = tiny_registry
    root = tmp_path_factory.mktemp("onnx-registry")
    shutil.copytree(settings.models_dir, root / "models")
    settings = settings.model_copy(update={"models_dir": root / "models"})
    examples = read_examples([tiny_dataset(root / "data.jsonl", n=60)], load_taxonomy())
    fp32 = Scorer.from_registry(settings, version, quantize=False)
    check = onnx_int8.build(fp32, Registry(settings.models_dir).path(version), examples, threads=1)
    return settings, version, check


def test_build_writes_a_checked_int8_model(built) -> None:
    settings, version, check = built
    path = Registry(settings.models_dir).path(version)
    assert onnx_int8.model_path(path).is_file()
    assert not [p for p in path.iterdir() if p.name.startswith(".onnx-")]  # no leftovers
    saved = onnx_int8.read_check(path)
    assert saved is not None and saved["examples"] == 60 and saved["ok"] == check.ok
    assert check.ok, check  # the keyword task stays separable after quantisation
    assert Registry(settings.models_dir).list()[0].name == version  # the onnx/ folder is not a version


def test_build_fuses_attention_before_quantising(built) -> None:
    settings, version, check = built
    # the export uses eager attention: SDPA's traced glue would leave the attention unfused and
    # the int8 model no faster than torch fp32
    ops = check.ops
    assert ops.get("QAttention") == 2 and ops.get("QEmbedLayerNormalization") == 1, ops
    assert "Softmax" not in ops and ops.get("MatMulInteger", 0) > 0, ops
    saved = onnx_int8.read_check(Registry(settings.models_dir).path(version))
    assert saved is not None and saved["format"] == onnx_int8.FORMAT and saved["ops"] == ops
    assert saved["fp32_cpu_seconds"] > 0 and saved["int8_cpu_seconds"] > 0


def test_export_restores_the_encoders_attention(tiny_registry, tmp_path: Path) -> None:
    settings, version = tiny_registry
    scorer = Scorer.from_registry(settings, version, quantize=False)
    before = scorer.model.encoder.config._attn_implementation
    onnx_int8.export_onnx(scorer.model, tmp_path / "m.onnx", pad_id=scorer.pad_id)
    assert scorer.model.encoder.config._attn_implementation == before
    assert "Softmax" in onnx_int8.op_counts(tmp_path / "m.onnx")  # exported, attention unfused yet


def test_checked_int8_is_the_default_and_fp32_when_asked(built) -> None:
    settings, version, _ = built
    default = Scorer.from_registry(settings, version)
    fp32 = Scorer.from_registry(settings, version, quantize=False)
    assert default.backend == "onnx-int8" and default.quantized
    assert fp32.backend == "torch-fp32" and not fp32.quantized
    assert Scorer.from_registry(settings, version, quantize=True).backend == "onnx-int8"
    p8, p32 = default.probabilities(TEXTS), fp32.probabilities(TEXTS)
    assert p8.shape == p32.shape and np.all((p8 >= 0) & (p8 <= 1))
    assert np.allclose(p8, p32, atol=0.08)
    # the keyword still ranks first on the int8 path
    assert p8[0, 0] > p8[3, 0] and p8[4, 0] > p8[3, 0]


def test_int8_scores_do_not_depend_on_batch_shape(built) -> None:
    settings, version, _ = built
    scorer = Scorer.from_registry(settings, version, quantize=True)
    one_by_one = np.stack([scorer.probabilities([t])[0] for t in TEXTS])
    batched = scorer.probabilities(TEXTS)
    # activations are quantised per batch tensor, so scores move a little with the batch, no more
    assert np.allclose(one_by_one, batched, atol=0.03)


def test_ort_threads_do_not_spin(built) -> None:
    settings, version, _ = built
    scorer = Scorer.from_registry(settings, version)
    forward = scorer._onnx
    assert isinstance(forward, onnx_int8.OrtForward)
    options = forward.session.get_session_options()
    assert options.get_session_config_entry("session.intra_op.allow_spinning") == "0"


def _registry_copy(built, tmp_path: Path):  # type: ignore[no-untyped-def]
    """A copy of the built registry to tamper with: (settings, version, its check file, the check's data)."""
    settings, version, _ = built
    shutil.copytree(settings.models_dir, tmp_path / "models")
    copy = settings.model_copy(update={"models_dir": tmp_path / "models"})
    check_file = tmp_path / "models" / version / onnx_int8.ONNX_DIR / onnx_int8.CHECK_FILE
    return copy, version, check_file, json.loads(check_file.read_text(encoding="utf-8"))


def test_stale_format_is_not_the_default_and_is_rebuilt(built, tmp_path: Path) -> None:
    copy, version, check_file, data = _registry_copy(built, tmp_path)
    data.pop("format")  # a build of the first format (SDPA export, unfused: no faster than fp32)
    check_file.write_text(json.dumps(data), encoding="utf-8")
    assert Scorer.from_registry(copy, version).backend == "torch-fp32"
    rebuilt = onnx_int8.build_version(copy, version)  # checked on the seed data's held-out split
    assert rebuilt is not None and rebuilt.format == onnx_int8.FORMAT
    assert onnx_int8.read_check(copy.models_dir / version) == rebuilt.to_dict()
    assert (Scorer.from_registry(copy, version).backend == "onnx-int8") == rebuilt.ok


def test_weights_are_7_bit_where_the_cpu_would_saturate_8_bit(built) -> None:
    settings, version, check = built
    assert check.reduce_range == onnx_int8.saturating_cpu()
    assert onnx_int8.read_check(Registry(settings.models_dir).path(version))["reduce_range"] == check.reduce_range


@pytest.mark.parametrize("saturating", [True, False])
def test_an_8_bit_build_is_not_the_default_on_a_cpu_that_saturates(
    built, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, saturating: bool
) -> None:
    copy, version, check_file, data = _registry_copy(built, tmp_path)
    assert data["ok"]
    monkeypatch.setattr(onnx_int8, "saturating_cpu", lambda: saturating)
    check_file.write_text(json.dumps({**data, "reduce_range": False}), encoding="utf-8")
    assert Scorer.from_registry(copy, version).backend == ("torch-fp32" if saturating else "onnx-int8")
    check_file.write_text(json.dumps({**data, "reduce_range": True}), encoding="utf-8")
    assert Scorer.from_registry(copy, version).backend == "onnx-int8"


def test_only_x86_without_vnni_saturates(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(onnx_int8.platform, "machine", lambda: "aarch64")
    assert not onnx_int8.saturating_cpu()


def test_failed_check_is_recorded_and_fp32_stays_default(built, tmp_path: Path) -> None:
    copy, version, check_file, data = _registry_copy(built, tmp_path)
    check_file.write_text(json.dumps({**data, "ok": False}), encoding="utf-8")
    assert Scorer.from_registry(copy, version).backend == "torch-fp32"
    assert Scorer.from_registry(copy, version, quantize=True).backend == "onnx-int8"  # asked for explicitly


def test_without_onnxruntime_scoring_falls_back_to_torch(built, monkeypatch: pytest.MonkeyPatch) -> None:
    settings, version, _ = built
    monkeypatch.setattr(onnx_int8, "usable", lambda _path: False)
    monkeypatch.setattr(onnx_int8, "available", lambda: False)
    assert Scorer.from_registry(settings, version).backend == "torch-fp32"
    assert Scorer.from_registry(settings, version, quantize=True).backend == "torch-int8-attention"
    assert onnx_int8.build_version(settings, version) is None


def test_broken_onnx_file_falls_back_to_torch(built, tmp_path: Path) -> None:
    settings, version, _ = built
    shutil.copytree(settings.models_dir, tmp_path / "models")
    copy = settings.model_copy(update={"models_dir": tmp_path / "models"})
    (tmp_path / "models" / version / onnx_int8.ONNX_DIR / onnx_int8.MODEL_FILE).write_bytes(b"not a model")
    scorer = Scorer.from_registry(copy, version, quantize=True)
    assert scorer.backend == "torch-int8-attention"
    assert scorer.probabilities(["drug"]).shape == (1, len(scorer.spec.outputs))


def test_build_version_skips_a_checked_build(built) -> None:
    settings, version, _ = built
    assert onnx_int8.build_version(settings, version) is None


def test_long_texts_keep_head_and_tail_windows(built) -> None:
    settings, version, _ = built
    scorer = Scorer.from_registry(settings, version, quantize=False)
    text = "news abc sale mix " * 3000 + " drug закладки"
    windows, cut = make_windows([text], scorer.tokenizer, scorer.spec)
    assert cut[0] and len(windows) == MAX_WINDOWS
    ids = scorer.tokenizer(text, add_special_tokens=False)["input_ids"]
    # the last window ends where the text ends, so a contact or offer in the footer is still read
    assert windows[-1].ids[-1 - len(ids[-4:]) : -1] == ids[-4:]
    prefix = len(scorer.tokenizer(scorer.spec.prefix, add_special_tokens=False)["input_ids"])
    assert windows[0].ids[1 + prefix : 9 + prefix] == ids[:8]
