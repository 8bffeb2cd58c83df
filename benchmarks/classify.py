"""Benchmark: Saqshy's scoring engine against a plain ``transformers.pipeline`` on the same model.

Builds N texts of mixed length (short posts, multi-paragraph pages, a tenth longer than one
512-token window) from the seed data's held-out test split, then in one run, on the same texts,
model and machine:

  pipeline               transformers.pipeline("text-classification") on the same encoder + head
                         (defaults: batch 1, truncation at 512 tokens, sigmoid over the head's logits)
  engine_default         what the score_items job runs: Scorer.from_registry(settings) -- ONNX Runtime
                         int8 (classifier.onnx_int8) when built and checked, else torch fp32;
                         normalisation, 128-token windows (engine.WINDOW_TOKENS) over the whole
                         text, length-sorted batches of least padding under a token budget
  engine_int8            ONNX Runtime int8, all windows (only when the default is not already it)
  engine_fp32            the same engine forced to torch fp32 (all windows)
  engine_fp32_first_window / engine_int8_first_window
                         equal work: only the first 512-token window of each text, like the pipeline

Reports texts/s, ratios against the pipeline of the same round, the process CPU seconds each row
took (steadier than wall time on a shared machine), ROC-AUC on these texts (an item is illegal when
any of its parts is) and ROC-AUC on the held-out split itself (overall, Kazakh, hard), float vs
quantised.
Rows are interleaved in chunks of --chunk texts (64: what one score_items job scores), so load
changes on a shared machine hit every row alike; with --rounds R the best round counts. The load
average is recorded. Writes benchmarks/results/classify.json and classify.png.

    python -m benchmarks.classify                # 2,000 texts, the production model
    python -m benchmarks.classify --n 500 --rounds 3 --version 20261122-...
"""

from __future__ import annotations

import argparse
import json
import os
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


def timed(fn: Any) -> tuple[Any, float, float]:
    """``fn()``, its wall seconds and the process's CPU seconds (all threads) while it ran."""
    start, cpu = time.perf_counter(), time.process_time()
    out = fn()
    return out, time.perf_counter() - start, time.process_time() - cpu


def held_out_auc(scorer: Scorer) -> dict[str, float]:
    """ROC-AUC overall, Kazakh and hard examples on the seed data's held-out split."""
    from classifier.metrics import evaluate

    examples = [e for e in read_examples([DEFAULT_SEED_DIR], load_taxonomy()) if e.split == "test"]
    metrics = evaluate(examples, scorer.probabilities([e.text for e in examples]), scorer.spec.outputs)
    return {
        "overall": round(float(metrics["illegal"]["roc_auc"]), 4),
        "kk": round(float(metrics["languages"]["kk"]["roc_auc"]), 4),
        "hard": round(float(metrics["hard"]["roc_auc"]), 4),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=2000)
    parser.add_argument("--version", default=None)
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument(
        "--chunk", type=int, default=64, help="Texts per interleaved call (score_items scores 64 items per job)."
    )
    parser.add_argument("--rows", default="", help="Comma-separated engine rows to run (default: all).")
    parser.add_argument("--skip-pipeline", action="store_true")
    parser.add_argument("--only-truncated", action="store_true", help="Only the equal-work (first window) rows.")
    args = parser.parse_args()

    settings = get_settings()
    torch.set_num_threads(settings.torch_threads)
    texts, labels = build_texts(args.n)
    fp32 = Scorer.from_registry(settings, args.version, quantize=False)
    default = Scorer.from_registry(settings, args.version)  # exactly what classifier.jobs.get_scorer loads
    int8 = default if default.quantized else Scorer.from_registry(settings, args.version, quantize=True)
    n_tokens = [len(ids) for ids in fp32.tokenizer(texts, add_special_tokens=False)["input_ids"]]
    print(
        f"{len(texts)} texts, tokens: median {int(np.median(n_tokens))}, p90 {int(np.percentile(n_tokens, 90))}, "
        f"max {max(n_tokens)}, {sum(t > 510 for t in n_tokens)} longer than one window; model {fp32.version}, "
        f"{settings.torch_threads} threads; default backend {default.backend}, int8 backend {int8.backend}"
    )

    from sklearn.metrics import roc_auc_score

    results: dict[str, Any] = {
        "texts": len(texts),
        "threads": settings.torch_threads,
        "version": fp32.version,
        "default_backend": default.backend,
        "int8_backend": int8.backend,
        "rounds": args.rounds,
        "loadavg_start": [round(x, 2) for x in os.getloadavg()],
    }
    # Equal work: the engine reading only the first 512-token window of each text, as the pipeline does.
    fp32_first = Scorer.from_registry(settings, args.version, quantize=False)
    fp32_first.max_windows, fp32_first.window = 1, fp32_first.spec.max_length
    int8_first = Scorer(
        int8.spec,
        int8.model,
        int8.tokenizer,
        int8.calibration,
        int8.thresholds,
        version=int8.version,
        forward=int8._onnx,
    )
    int8_first.max_windows, int8_first.window = 1, int8_first.spec.max_length
    rows: list[tuple[str, Any]] = [
        ("engine_default", lambda ts: default.probabilities(ts)),
        ("engine_int8", lambda ts: int8.probabilities(ts)),  # ONNX Runtime int8, all windows
        ("engine_fp32", lambda ts: fp32.probabilities(ts)),
        ("engine_fp32_first_window", lambda ts: fp32_first.probabilities(ts)),
        ("engine_int8_first_window", lambda ts: int8_first.probabilities(ts)),
    ]
    if int8.backend != "onnx-int8":
        rows = [
            r for r in rows if "int8" not in r[0]
        ]  # the torch int8 fallback is not a candidate: see classifier.onnx_int8
    if default is int8:
        rows = [r for r in rows if r[0] != "engine_int8"]  # the same scorer as engine_default
    if args.rows:
        rows = [r for r in rows if r[0] in args.rows.split(",")]
    if args.only_truncated:
        rows = [r for r in rows if r[0].endswith("first_window")]
    if not args.skip_pipeline:
        from transformers import pipeline
        from transformers.utils import logging as hf_logging

        hf_logging.set_verbosity(hf_logging.CRITICAL)  # "MeanPoolClassifier is not a supported model": it works
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

        def run_pipeline(ts: list[str]) -> np.ndarray:
            out: Any = clf(ts)
            return np.array([[next(d["score"] for d in row if d["label"] == "illegal")] for row in out])

        rows.insert(0, ("pipeline", run_pipeline))
    warm = texts[:: max(1, len(texts) // 8)][:8]
    for scorer in (default, fp32, fp32_first, int8_first):
        scorer.probabilities(warm)  # first-call allocations and ORT's lazy init are not throughput
    seconds: dict[str, list[float]] = {name: [] for name, _ in rows}
    chunks = [texts[i : i + args.chunk] for i in range(0, len(texts), args.chunk)]
    for r in range(args.rounds):
        # Interleaved: every row scores chunk 1, then every row chunk 2, ... (the order rotating), so
        # a change in the machine's load hits all rows alike instead of whichever ran during it.
        spent = dict.fromkeys(seconds, 0.0)
        cpu = dict.fromkeys(seconds, 0.0)
        parts: dict[str, list[np.ndarray]] = {name: [] for name in seconds}
        for c, chunk in enumerate(chunks):
            for name, fn in rows[c % len(rows) :] + rows[: c % len(rows)]:
                out, secs, cpu_secs = timed(lambda fn=fn, chunk=chunk: fn(chunk))
                spent[name] += secs
                cpu[name] += cpu_secs
                parts[name].append(out)
        for name in seconds:
            seconds[name].append(spent[name])
            probs = np.concatenate(parts[name])
            results[name] = {
                "seconds": round(min(seconds[name]), 2),
                "all_seconds": [round(x, 1) for x in seconds[name]],
                "texts_per_s": round(len(texts) / min(seconds[name]), 2),
                "cpu_seconds": round(cpu[name], 1),
                "roc_auc": round(float(roc_auc_score(labels, probs[:, -1])), 4),
            }
            load = os.getloadavg()[0]
            print(f"round {r + 1} {name:25s} {spent[name]:7.1f}s  load {load:.1f}  {results[name]}", flush=True)
        if "pipeline" in seconds:
            # the ratio within this round: the fairest figure when the machine's load drifts
            base = seconds["pipeline"][-1]
            print(f"round {r + 1} ratios: " + ", ".join(f"{n} {base / s[-1]:.2f}x" for n, s in seconds.items()))
    if "pipeline" in results:
        base = results["pipeline"]["texts_per_s"]
        for name, _ in rows[1:]:
            results[f"speedup_{name}"] = round(results[name]["texts_per_s"] / base, 2)
            results[f"cpu_ratio_{name}"] = round(results["pipeline"]["cpu_seconds"] / results[name]["cpu_seconds"], 2)
            results[f"speedup_{name}_per_round"] = [
                round(p / s, 2) for p, s in zip(seconds["pipeline"], seconds[name], strict=True)
            ]
    results["held_out_roc_auc_fp32"] = held_out_auc(fp32)
    if int8.quantized:
        results["held_out_roc_auc_int8"] = held_out_auc(int8)
        results["held_out_int8_auc_loss"] = round(
            results["held_out_roc_auc_fp32"]["overall"] - results["held_out_roc_auc_int8"]["overall"], 4
        )
    if "engine_fp32" in results and "engine_int8" in results:
        results["texts_int8_auc_loss"] = round(results["engine_fp32"]["roc_auc"] - results["engine_int8"]["roc_auc"], 4)
    results["loadavg_end"] = [round(x, 2) for x in os.getloadavg()]
    print(json.dumps({k: v for k, v in results.items() if not isinstance(v, dict)}))
    print(json.dumps({k: v for k, v in results.items() if k.startswith("held_out")}))

    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "classify.json").write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = [
        k
        for k in (
            "pipeline",
            "engine_default",
            "engine_int8",
            "engine_fp32",
            "engine_fp32_first_window",
            "engine_int8_first_window",
        )
        if k in results
    ]
    fig, ax = plt.subplots(figsize=(6, 4))
    ax.bar(
        names,
        [results[k]["texts_per_s"] for k in names],
        color=["#999", "#3a7", "#27c", "#3a7", "#a73", "#c72"][: len(names)],
    )
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
    ax.tick_params(axis="x", labelrotation=20)
    ax.set_title(f"{len(texts)} mixed-length texts, {settings.torch_threads} CPU threads")
    fig.savefig(RESULTS / "classify.png", dpi=110, bbox_inches="tight")
    print(f"wrote {RESULTS / 'classify.json'} and classify.png")


if __name__ == "__main__":
    main()
