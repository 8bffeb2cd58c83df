from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from classifier import convert as conv
from classifier.errors import ConversionError, ModelNotFoundError
from classifier.loading import load_encoder
from tests.classifier.conftest import REAL_BASE, TINY_SENTENCES, write_tiny_image


def test_dequantize_q4_0_matches_e5c_layout() -> None:
    # One block: scale 0.5, byte j holds weight j (low nibble) and weight j + 16 (high nibble).
    qs = np.array([(j & 0x0F) | ((15 - j) << 4) for j in range(16)], dtype=np.uint8)
    data = np.float16(0.5).tobytes() + qs.tobytes()
    out = conv.dequantize_q4_0(data, 0, (32,))
    expected = [(j - 8) * 0.5 for j in range(16)] + [(15 - j - 8) * 0.5 for j in range(16)]
    assert out.tolist() == expected


def test_read_image_rejects_garbage(tmp_path: Path) -> None:
    bad = tmp_path / "bad.bin"
    bad.write_bytes(b"GGUF" + bytes(100))
    with pytest.raises(ConversionError, match="bad magic"):
        conv.read_image(bad)
    truncated = tmp_path / "trunc.bin"
    truncated.write_bytes(write_tiny_image(tmp_path / "t.bin").read_bytes()[:200])
    with pytest.raises(ConversionError, match="truncated"):
        conv.read_image(truncated)


def test_tiny_conversion_matches_the_engine(tiny_base: Path) -> None:
    manifest = json.loads((tiny_base / conv.MANIFEST_NAME).read_text())
    verification = manifest["verification"]
    assert verification["ok"]
    assert verification["min_cosine"] >= conv.MIN_COSINE
    tok_config = json.loads((tiny_base / "tokenizer_config.json").read_text())
    assert tok_config["tokenizer_class"] == "PreTrainedTokenizerFast"
    encoder = load_encoder(str(tiny_base))
    # the shipped normalisation map survives the round trip (fullwidth letters, ligature, tabs)
    assert encoder.tokenizer.backend_tokenizer.normalizer.normalize_str("ＡＢ ﬁ\tx") == "ab fi x"


def test_token_ids_identical_to_the_package(tiny_image: Path, tmp_path: Path) -> None:
    from transformers import AutoTokenizer

    image = conv.read_image(tiny_image)
    conv.save_tokenizer(image, tmp_path)
    tokenizer = AutoTokenizer.from_pretrained(str(tmp_path))
    with conv.package_tokenizer(tiny_image) as package_ids:
        if package_ids is None:
            pytest.skip("no C compiler to build the package's tokenizer")
        for text in (*TINY_SENTENCES, "passage: drug", "  leading and trailing  "):
            assert tokenizer(text)["input_ids"] == [0, *package_ids(text), 2], text


def test_ensure_base_model_is_idempotent(tmp_path: Path) -> None:
    source = write_tiny_image(tmp_path / "tiny.bin")
    messages: list[str] = []
    # the default verification sentences contain emoji, unknown to the tiny vocabulary: use ours
    dest = conv.ensure_base_model(
        tmp_path / "models", source=source, progress=messages.append, sentences=TINY_SENTENCES
    )
    assert (dest / "model.safetensors").is_file()
    messages.clear()
    assert conv.ensure_base_model(tmp_path / "models", source=source, progress=messages.append) == dest
    assert any("already built" in m for m in messages)
    assert not [p for p in dest.parent.iterdir() if ".build-" in p.name]


def test_missing_weights_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ModelNotFoundError, match="build-base"):
        load_encoder(str(tmp_path / "nowhere"))
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "config.json").write_text("{}")
    with pytest.raises(ModelNotFoundError, match="no model weights"):
        load_encoder(str(tmp_path / "empty"))


@pytest.mark.slow
@pytest.mark.skipif(not (REAL_BASE / "model.safetensors").is_file(), reason="base model not built")
def test_real_base_model_verifies() -> None:
    report = conv.verify(REAL_BASE, conv.default_source())
    assert report.ok, report
    encoder = load_encoder(str(REAL_BASE))
    assert encoder.tokenizer.tokenize("қызметкерлері") == ["▁қызметкерлері"]
    assert sum(p.numel() for p in encoder.model.parameters()) == pytest.approx(117.5e6, rel=0.01)
