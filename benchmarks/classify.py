"""Benchmark: Saqshy's scoring engine against a plain ``transformers.pipeline`` on the same model.

Builds N texts of mixed length (short posts, multi-paragraph pages, a tenth longer than one
512-token window) from the seed data's held-out test split, then in one run:

  1. transformers.pipeline("text-classification") on the same encoder + head (defaults: batch 1,
     truncation at 512 tokens, sigmoid over the head's logits);
  2. the engine in fp32 (normalisation, length-sorted batches, windows, inference_mode);
  3. the engine with dynamic int8 quantisation.

Reports texts/s and ratios against the pipeline, and ROC-AUC of fp32 vs int8 (an item is illegal
when any of its parts is). Writes benchmarks/results/classify.json and classify.png.

    python benchmarks/classify.py                # 2,000 texts, the production model
    python benchmarks/classify.py --n 500 --version 20261122-...
"""

from __future__ import annotations

import argparse
import json
import random
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from classifier.data import DEFAULT_SEED_DIR, read_examples
from classifier.engine import Scorer
from classifier.model import mean_pool
from classifier.taxonomy import load_taxonomy
from saqshy.settings import get_settings

RESULTS = Path(__file__).resolve().parent / "results"


def build_texts(n: int, seed: int = 0) -> tuple[list[str], np.ndarray]:
    examples = [e for e in read_examples([DEFAULT_SEED_DIR], load_taxonomy()) if e.split == "test"]
    rng = random.Random(seed)
    texts, labels = [], []
    for _ in range(n):
        r = rng.random()
        k = 1 if r < 0.6 else rng.randint(3, 8) if r < 0.9 else rng.randint(25, 50)
        parts = [rng.choice(examples) for _ in range(k)]
        if k > 1 and rng.random() < 0.5:
            # mostly benign long pages with one bad paragraph somewhere: what windows are for
            benign = [e for e in examples if not e.is_illegal]
            parts = [rng.choice(benign) for _ in range(k - 1)] + [parts[0]]
            rng.shuffle(parts)
        texts.append("\n\n".join(p.text for p in parts))
        labels.append(any(p.is_illegal for p in parts))
    return texts, np.array(labels, dtype=np.int64)


def pipeline_model(scorer: Scorer) -> Any:
    """The same encoder + head as a transformers sequence-classification model (mean pooling)."""
    from transformers import PreTrainedModel
    from transformers.modeling_outputs import SequenceClassifierOutput

    model: Any = scorer.model
    encoder, head = model.encoder, model.head
    config = encoder.config
    config.id2label = dict(enumerate(scorer.spec.outputs))
    config.label2id = {v: k for k, v in config.id2label.items()}
    config.problem_type = "multi_label_classification"

    class MeanPoolClassifier(PreTrainedModel):
        config_class = type(config)
        base_model_prefix = "encoder"
        _supports_sdpa = True  # attention is the wrapped encoder's; this class only pools

        def __init__(self) -> None:
            super().__init__(config)
            self.encoder = encoder
            self.head = head

        def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor, **_: Any) -> Any:
            hidden = self.encoder(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
            return SequenceClassifierOutput(logits=self.head(mean_pool(hidden, attention_mask)))

    return MeanPoolClassifier().eval()


def timed(fn: Any) -> tuple[Any, float]:
    start = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=2000)
    parser.add_argument("--version", default=None)
    parser.add_argument("--skip-pipeline", action="store_true")
    parser.add_argument("--only-truncated", action="store_true", help="Only the equal-work engine row.")
    args = parser.parse_args()

    settings = get_settings()
    torch.set_num_threads(settings.torch_threads)
    texts, labels = build_texts(args.n)
    fp32 = Scorer.from_registry(settings, args.version)
    int8 = Scorer.from_registry(settings, args.version, quantize=True)
    n_tokens = [len(ids) for ids in fp32.tokenizer(texts, add_special_tokens=False)["input_ids"]]
    print(
        f"{len(texts)} texts, tokens: median {int(np.median(n_tokens))}, p90 {int(np.percentile(n_tokens, 90))}, "
        f"max {max(n_tokens)}, {sum(t > 510 for t in n_tokens)} longer than one window; "
        f"model {fp32.version}, {settings.torch_threads} threads"
    )

    from sklearn.metrics import roc_auc_score

    results: dict[str, Any] = {"texts": len(texts), "threads": settings.torch_threads, "version": fp32.version}
    if not args.skip_pipeline:
        from transformers import pipeline

        clf = pipeline(
            "text-classification",
            model=pipeline_model(fp32),
            tokenizer=fp32.tokenizer,
            device=-1,
            top_k=None,
            function_to_apply="sigmoid",
            truncation=True,
            max_length=fp32.spec.max_length,
        )
        out, secs = timed(lambda: clf(texts))
        p_pipe = np.array([next(d["score"] for d in row if d["label"] == "illegal") for row in out])
        results["pipeline"] = {
            "seconds": round(secs, 2),
            "texts_per_s": round(len(texts) / secs, 2),
            "roc_auc": round(float(roc_auc_score(labels, p_pipe)), 4),
        }
        print(f"pipeline        {results['pipeline']}")
    # Equal work: the engine reading only the first 512 tokens of each text, as the pipeline does.
    truncated = Scorer.from_registry(settings, args.version)
    truncated.max_windows = 1
    rows = [("engine_fp32", fp32), ("engine_int8", int8), ("engine_fp32_first_window", truncated)]
    if args.only_truncated:
        rows = rows[2:]
    for name, scorer in rows:
        probs, secs = timed(lambda s=scorer: s.probabilities(texts))
        results[name] = {
            "seconds": round(secs, 2),
            "texts_per_s": round(len(texts) / secs, 2),
            "roc_auc": round(float(roc_auc_score(labels, probs[:, -1])), 4),
        }
        print(f"{name:15s} {results[name]}")
    if "pipeline" in results:
        base = results["pipeline"]["texts_per_s"]
        for name, _ in rows:
            results[f"speedup_{name}"] = round(results[name]["texts_per_s"] / base, 2)
    if "engine_fp32" in results and "engine_int8" in results:
        loss = results["engine_fp32"]["roc_auc"] - results["engine_int8"]["roc_auc"]
        results["int8_auc_loss"] = round(loss, 4)
    print(json.dumps({k: v for k, v in results.items() if not isinstance(v, dict)}))

    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "classify.json").write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = [k for k in ("pipeline", "engine_fp32", "engine_int8", "engine_fp32_first_window") if k in results]
    fig, ax = plt.subplots(figsize=(6, 4))
    ax.bar(names, [results[k]["texts_per_s"] for k in names], color=["#999", "#3a7", "#27c", "#a73"][: len(names)])
    for i, k in enumerate(names):
        ax.text(
            i,
            results[k]["texts_per_s"],
            f"{results[k]['texts_per_s']:.1f}/s\nAUC {results[k]['roc_auc']:.3f}",
            ha="center",
            va="bottom",
            fontsize=8,
        )
    ax.set_ylabel("texts per second")
    ax.set_title(f"{len(texts)} mixed-length texts, {settings.torch_threads} CPU threads")
    fig.savefig(RESULTS / "classify.png", dpi=110, bbox_inches="tight")
    print(f"wrote {RESULTS / 'classify.json'} and classify.png")


if __name__ == "__main__":
    main()
