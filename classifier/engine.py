"""Inference engine: a registry version loaded once per worker, scoring texts in batches.

Each text is normalised, tokenised once, and cut into overlapping windows (WINDOW_TOKENS tokens, at
most ``spec.max_length``; the spec's stride scaled to the window is shared); windows of all texts are
sorted by length and run in batches of least padding under a token budget (plan_batches), under
``torch.inference_mode``; an item's logits are the maximum over its windows (calibration is
monotone, so this is the highest window's probability).

Backends: ONNX Runtime int8 (classifier.onnx_int8), the default once built and checked for the
version (the install step builds it for the default model); torch fp32 when it is missing, failed its
check, or onnxruntime is not installed (``quantize=False`` forces it); torch dynamic int8 of the
attention projections when int8 is asked for (``quantize=True``) and no ONNX model exists. They are
compared with a plain transformers pipeline in benchmarks/classify.py (docs/performance.md).

Work per item is bounded: at most MAX_WINDOWS windows of ``spec.max_length`` tokens' worth (with
shorter windows, proportionally more of them), the first HEAD_WINDOWS/MAX_WINDOWS of them from the
start of the text and the rest from its end (pages tend to carry their content near the start and
their contacts/footers near the end); an item with more windows than that is marked ``truncated``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from classifier.calibration import Calibration
from classifier.model import ModelSpec
from classifier.normalize import normalize

if TYPE_CHECKING:
    from saqshy.settings import Settings

# Hostile input: a text is never trusted to be small. Beyond these limits the rest is not scored
# (the result says so). 16 windows of 512 tokens cover roughly 25-40k characters: one item costs at
# most 16 windows of model time, so a batch's time is predictable whatever the crawler brought in.
MAX_CHARS = 200_000
MAX_WINDOWS = 16
HEAD_WINDOWS = 12
# Windows of 128 tokens rather than the encoder's 512: attention grows with the window, and the head
# was trained on short texts; as accurate and cheaper (docs/performance.md).
WINDOW_TOKENS = 128


@dataclass
class Window:
    item: int
    ids: list[int]


@dataclass
class ItemScore:
    score: float
    probabilities: dict[str, float]
    top_category: str | None
    flagged: list[str]
    windows: int
    truncated: bool
    spans: list[dict[str, Any]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def special_ids(tokenizer: Any) -> tuple[list[int], list[int]]:
    """The ids framing one sequence: <s> ... </s> (XLM-R) or [CLS] ... [SEP] (BERT)."""
    first = tokenizer.cls_token_id if tokenizer.cls_token_id is not None else tokenizer.bos_token_id
    last = tokenizer.sep_token_id if tokenizer.sep_token_id is not None else tokenizer.eos_token_id
    return ([first] if first is not None else []), ([last] if last is not None else [])


def make_windows(
    texts: Sequence[str],
    tokenizer: Any,
    spec: ModelSpec,
    *,
    max_windows: int | None = None,
    window: int | None = None,
) -> tuple[list[Window], list[bool]]:
    """Normalise, tokenise and window; returns the windows and, per text, whether it was cut.

    ``window``: tokens per window, specials included (default and at most ``spec.max_length``); the
    overlap is ``spec.stride`` scaled by ``window / spec.max_length``. ``max_windows`` defaults to
    MAX_WINDOWS windows of ``spec.max_length`` tokens' worth, so shorter windows read as far.
    """
    length = min(window or spec.max_length, spec.max_length)
    if max_windows is None:
        max_windows = MAX_WINDOWS * math.ceil(spec.max_length / length)
    prefix_ids: list[int] = tokenizer(spec.prefix, add_special_tokens=False)["input_ids"] if spec.prefix else []
    head, tail = special_ids(tokenizer)
    room = max(8, length - len(head) - len(tail) - len(prefix_ids))
    # small models: never let the overlap eat the window
    overlap = min(spec.stride * length // spec.max_length, room // 4)
    step = room - overlap
    cleaned = [normalize(t[:MAX_CHARS]) for t in texts]
    encoded = tokenizer(cleaned, add_special_tokens=False)["input_ids"]
    windows: list[Window] = []
    truncated: list[bool] = []
    for i, (text, ids) in enumerate(zip(texts, encoded, strict=True)):
        starts = list(range(0, max(1, len(ids) - overlap), step)) if len(ids) > room else [0]
        cut = len(text) > MAX_CHARS or len(starts) > max_windows
        truncated.append(cut)
        if len(starts) > max_windows:
            head_n = min(max_windows, max(1, round(max_windows * HEAD_WINDOWS / MAX_WINDOWS)))
            starts = starts[:head_n] + (starts[-(max_windows - head_n) :] if max_windows > head_n else [])
        for start in starts:
            body = prefix_ids + ids[start : start + room]
            windows.append(Window(i, head + body + tail))
    return windows, truncated


# Batch planning (plan_batches): the cost of a batch in token-equivalents is a fixed overhead per
# call plus, per row, the padded width times (1 + width / ATTENTION_TOKENS), attention growing with
# the width: padding is the waste to avoid, since throughput is flat from a few rows up
# (docs/performance.md).
BATCH_OVERHEAD_TOKENS = 32
ATTENTION_TOKENS = 2304  # e5-small: per token, 2*L*384 attention MACs against ~4608*384 in the linears


def plan_batches(
    lengths: Sequence[int],
    *,
    batch_tokens: int = 8192,
    max_batch: int = 64,
    overhead: float = BATCH_OVERHEAD_TOKENS,
    attention_tokens: float = ATTENTION_TOKENS,
) -> list[tuple[int, int]]:
    """Split ascending ``lengths`` into contiguous batches ``[start, end)`` of least total cost.

    Dynamic programming over the sorted lengths (a batch's width is its last, longest row): each
    batch at most ``max_batch`` rows and ``batch_tokens`` padded tokens (a single longer row still
    gets a batch of its own).
    """
    n = len(lengths)
    best = [0.0] + [math.inf] * n
    cut = [0] * (n + 1)
    for end in range(1, n + 1):
        width = lengths[end - 1]
        per_row = width * (1.0 + width / attention_tokens)
        rows_cap = max(1, min(max_batch, batch_tokens // max(1, width)))
        for start in range(end - 1, max(0, end - rows_cap) - 1, -1):
            cost = best[start] + overhead + (end - start) * per_row
            if cost < best[end]:
                best[end], cut[end] = cost, start
    batches: list[tuple[int, int]] = []
    end = n
    while end > 0:
        batches.append((cut[end], end))
        end = cut[end]
    return batches[::-1]


def run_windows(
    model: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
    windows: Sequence[Window],
    pad_id: int,
    *,
    batch_tokens: int = 8192,
    max_batch: int = 64,
) -> np.ndarray:
    """Run ``model(input_ids, attention_mask)`` over windows sorted by length; rows in input order."""
    order = sorted(range(len(windows)), key=lambda k: len(windows[k].ids))
    lengths = [len(windows[k].ids) for k in order]
    results: list[np.ndarray | None] = [None] * len(windows)
    with torch.inference_mode():
        for start, end in plan_batches(lengths, batch_tokens=batch_tokens, max_batch=max_batch):
            chunk = order[start:end]
            width = lengths[end - 1]
            ids = torch.full((len(chunk), width), pad_id, dtype=torch.long)
            mask = torch.zeros((len(chunk), width), dtype=torch.long)
            for row, k in enumerate(chunk):
                seq = windows[k].ids
                ids[row, : len(seq)] = torch.tensor(seq, dtype=torch.long)
                mask[row, : len(seq)] = 1
            out = model(ids, mask).float().numpy()
            for row, k in enumerate(chunk):
                results[k] = out[row]
    if not results:
        return np.zeros((0, 0), dtype=np.float32)
    return np.stack([r for r in results if r is not None])


def quantize_dynamic(module: torch.nn.Module) -> torch.nn.Module:
    """int8 dynamic quantisation (per-channel weights) of the attention projections.

    The feed-forward layers stay fp32: their GELU activation outliers are where int8 loses accuracy
    (docs/performance.md).
    """
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torch.ao deprecation notices: the API still works
        from torch.ao.quantization import per_channel_dynamic_qconfig
        from torch.ao.quantization import quantize_dynamic as _qd

        names = {
            name
            for name, sub in module.named_modules()
            if isinstance(sub, torch.nn.Linear) and ".attention." in f".{name}."
        }
        if not names:  # not a BERT-style encoder: quantise every Linear
            names = {name for name, sub in module.named_modules() if isinstance(sub, torch.nn.Linear)}
        return _qd(module, dict.fromkeys(names, per_channel_dynamic_qconfig), dtype=torch.qint8)


class Scorer:
    """Load once, score many. Thread count comes from the settings, never from the environment."""

    def __init__(
        self,
        spec: ModelSpec,
        model: torch.nn.Module,
        tokenizer: Any,
        calibration: Calibration,
        thresholds: dict[str, float],
        *,
        version: str = "unversioned",
        quantize: bool = False,
        threads: int | None = None,
        batch_tokens: int = 8192,
        forward: Callable[[torch.Tensor, torch.Tensor], torch.Tensor] | None = None,
    ):
        """``forward`` replaces the torch model for scoring (the ONNX Runtime int8 session)."""
        if threads:
            torch.set_num_threads(threads)
        self.spec = spec
        self.version = version
        self.tokenizer = tokenizer
        self.calibration = calibration
        self.thresholds = thresholds
        self.batch_tokens = batch_tokens
        self.window = min(spec.max_length, WINDOW_TOKENS)  # tokens per window (see WINDOW_TOKENS)
        self.max_windows: int | None = None  # None: make_windows' budget; 1 = truncate (benchmarks only)
        model.eval()
        self.model: torch.nn.Module = model
        self._onnx = forward
        if forward is not None:
            self.backend = "onnx-int8"
        elif quantize:
            self.model = quantize_dynamic(model)
            self.backend = "torch-int8-attention"
        else:
            self.backend = "torch-fp32"
        self.quantized = self.backend != "torch-fp32"
        pad = tokenizer.pad_token_id
        self.pad_id = int(pad if pad is not None else 0)

    @classmethod
    def from_registry(
        cls,
        settings: Settings,
        version: str | None = None,
        *,
        quantize: bool | None = None,
        batch_tokens: int = 8192,
    ) -> Scorer:
        """``quantize``: None = the production choice (checked ONNX int8 if built, else torch fp32)."""
        from classifier.registry import Registry

        registry = Registry(settings.models_dir)
        return registry.load_scorer(
            version, settings=settings, quantize=quantize, threads=settings.torch_threads, batch_tokens=batch_tokens
        )

    @classmethod
    def from_dir(cls, path: Path, *, settings: Settings | None = None, quantize: bool | None = None) -> Scorer:
        from classifier.registry import Registry

        registry = Registry(path.parent)
        return registry.load_scorer(path.name, settings=settings, quantize=quantize)

    def _forward(self, ids: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        if self._onnx is not None:
            return self._onnx(ids, mask)
        return self.model(ids, mask)

    def logits(self, texts: Sequence[str]) -> tuple[np.ndarray, list[int], list[bool]]:
        """Per item, the max over its windows of the raw logits; plus window counts and cut flags."""
        n_out = len(self.spec.outputs)
        if not texts:
            return np.zeros((0, n_out), dtype=np.float32), [], []
        windows, truncated = make_windows(
            texts, self.tokenizer, self.spec, max_windows=self.max_windows, window=self.window
        )
        window_logits = run_windows(self._forward, windows, self.pad_id, batch_tokens=self.batch_tokens)
        out = np.full((len(texts), n_out), -math.inf, dtype=np.float32)
        counts = [0] * len(texts)
        for w, row in zip(windows, window_logits, strict=True):
            out[w.item] = np.maximum(out[w.item], row)
            counts[w.item] += 1
        return out, counts, truncated

    def probabilities(self, texts: Sequence[str]) -> np.ndarray:
        logits, _, _ = self.logits(texts)
        return self.calibration.apply(logits)

    def score(self, texts: Sequence[str]) -> list[ItemScore]:
        logits, counts, truncated = self.logits(texts)
        probs = self.calibration.apply(logits)
        outputs = self.spec.outputs
        results = []
        for row, n_windows, cut in zip(probs, counts, truncated, strict=True):
            per_cat = {c: round(float(p), 6) for c, p in zip(outputs[:-1], row[:-1], strict=True)}
            overall = float(row[-1])
            top = max(per_cat, key=lambda c: per_cat[c]) if per_cat else None
            flagged = [c for c, p in per_cat.items() if p >= self.thresholds.get(c, 0.5)]
            results.append(
                ItemScore(
                    score=round(overall, 6),
                    probabilities=per_cat,
                    top_category=top,
                    flagged=flagged,
                    windows=n_windows,
                    truncated=cut,
                )
            )
        return results
