"""Optional fast path: the classifier exported to ONNX and int8-quantised for ONNX Runtime.

Built once per registry version (``saqshy model quantize``, and by the install step for the default
model) into ``<version>/onnx/``:

    model-int8.onnx   encoder + mean pooling + head; dynamic int8 (per-channel weights, 8-bit activations)
    check.json        ROC-AUC on the seed data's held-out split, fp32 (torch) vs int8 (ONNX Runtime)

It is used when int8 is asked for (``quantize=True``, ``--quantize``); without onnxruntime or with a
broken file the engine falls back to torch. It is NOT the production default: interleaved with torch
fp32 on the shared 2-core CPU (benchmarks/classify.py, 2,000 texts) it was not faster (317 s vs 275 s),
and it moves single probabilities by up to 0.27, so fp32 stays the default until it pays off.
Why ONNX Runtime rather than ``torch.ao`` dynamic quantisation: torch's fbgemm kernels quantise
activations to 7 bits (``reduce_range``) and cost 0.02 ROC-AUC when every Linear is quantised, while
ORT's u8/s8 VNNI kernels keep 8 bits and stay within noise of fp32 (measured: benchmarks/classify.py).
"""

from __future__ import annotations

import importlib.util
import json
import logging
import os
import shutil
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

if TYPE_CHECKING:
    from classifier.data import Example
    from classifier.engine import Scorer

logger = logging.getLogger(__name__)

ONNX_DIR = "onnx"
MODEL_FILE = "model-int8.onnx"
CHECK_FILE = "check.json"
MAX_AUC_LOSS = 0.005
_BERT_LIKE = {"bert", "roberta", "xlm-roberta", "camembert"}


def available() -> bool:
    """Whether onnxruntime and onnx can be imported (both are needed to build; ORT alone to run)."""
    return all(importlib.util.find_spec(name) is not None for name in ("onnxruntime", "onnx"))


def model_path(version_dir: Path) -> Path:
    return version_dir / ONNX_DIR / MODEL_FILE


@dataclass
class Int8Check:
    examples: int
    fp32_roc_auc: float
    int8_roc_auc: float
    max_abs_prob_diff: float
    onnxruntime: str
    seconds: float

    @property
    def loss(self) -> float:
        return self.fp32_roc_auc - self.int8_roc_auc

    @property
    def ok(self) -> bool:
        return self.loss <= MAX_AUC_LOSS

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "loss": round(self.loss, 4), "max_loss": MAX_AUC_LOSS, "ok": self.ok}


def read_check(version_dir: Path) -> dict[str, Any] | None:
    try:
        data = json.loads((version_dir / ONNX_DIR / CHECK_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def usable(version_dir: Path) -> bool:
    """The int8 model exists, passed its AUC check, and onnxruntime imports."""
    check = read_check(version_dir)
    return (
        bool(check and check.get("ok"))
        and model_path(version_dir).is_file()
        and importlib.util.find_spec("onnxruntime") is not None
    )


class OrtForward:
    """``(input_ids, attention_mask) -> logits`` on an ONNX Runtime session (what run_windows calls)."""

    def __init__(self, path: Path, *, threads: int | None = None):
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        options.inter_op_num_threads = 1
        if threads:
            options.intra_op_num_threads = threads
        self.path = path
        self.session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])

    def __call__(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        feeds = {"input_ids": input_ids.numpy(), "attention_mask": attention_mask.numpy()}
        return torch.from_numpy(self.session.run(None, feeds)[0])


def export_onnx(model: torch.nn.Module, path: Path, *, pad_id: int) -> None:
    """Trace encoder + pooling + head to ONNX with dynamic batch and sequence axes."""
    import warnings

    # The example batch has padding, so the traced graph keeps the attention-mask path (a batch
    # without padding could let the encoder skip the mask and bake that shortcut into the trace).
    ids = torch.tensor([[0, 5, 6, 7, 8, 2], [0, 5, 6, 2, pad_id, pad_id]], dtype=torch.long)
    mask = (torch.arange(ids.shape[1]) < torch.tensor([[6], [4]])).long()
    model.eval()
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")  # tracer notices about Python-side shape checks
        torch.onnx.export(
            model,
            (ids, mask),
            str(path),
            input_names=["input_ids", "attention_mask"],
            output_names=["logits"],
            dynamic_axes={"input_ids": {0: "batch", 1: "seq"}, "attention_mask": {0: "batch", 1: "seq"}},
            opset_version=17,
            dynamo=False,  # the TorchScript exporter needs no onnxscript and handles this encoder
        )


def quantize_onnx(source: Path, dest: Path, *, config: Any) -> None:
    """Fuse (SkipLayerNorm, BiasGelu) for BERT-like encoders, then dynamic int8 with per-channel weights."""
    from onnx import TensorProto
    from onnxruntime.quantization import QuantType, quantize_dynamic

    to_quantize = source
    if getattr(config, "model_type", "") in _BERT_LIKE:
        from onnxruntime.transformers.optimizer import optimize_model

        fused = source.with_name("fused.onnx")
        optimized = optimize_model(
            str(source),
            model_type="bert",
            num_heads=int(config.num_attention_heads),
            hidden_size=int(config.hidden_size),
            opt_level=1,
        )
        optimized.save_model_to_file(str(fused))
        to_quantize = fused
    quantize_dynamic(
        str(to_quantize),
        str(dest),
        weight_type=QuantType.QInt8,
        per_channel=True,
        # fused ops are outside ONNX's shape inference: their outputs are float
        extra_options={"DefaultTensorType": TensorProto.FLOAT},
    )


def check_int8(fp32: Scorer, int8: Scorer, examples: Sequence[Example]) -> Int8Check:
    """ROC-AUC of the overall output, fp32 vs int8, on the given (held-out) examples."""
    from sklearn.metrics import roc_auc_score

    start = time.perf_counter()
    texts = [e.text for e in examples]
    labels = np.array([e.is_illegal for e in examples], dtype=np.int64)
    p32 = fp32.probabilities(texts)
    p8 = int8.probabilities(texts)
    two_classes = 0 < labels.sum() < len(labels)
    auc32 = float(roc_auc_score(labels, p32[:, -1])) if two_classes else 1.0
    auc8 = float(roc_auc_score(labels, p8[:, -1])) if two_classes else 1.0
    import onnxruntime

    return Int8Check(
        examples=len(examples),
        fp32_roc_auc=round(auc32, 4),
        int8_roc_auc=round(auc8, 4),
        max_abs_prob_diff=round(float(np.abs(p32 - p8).max()) if len(texts) else 0.0, 4),
        onnxruntime=onnxruntime.__version__,
        seconds=round(time.perf_counter() - start, 1),
    )


def build(
    fp32: Scorer,
    version_dir: Path,
    examples: Sequence[Example],
    *,
    threads: int | None = None,
    progress: Callable[[str], None] | None = None,
) -> Int8Check:
    """Export, quantise and check; publishes ``<version>/onnx/`` atomically (check.json says if it passed)."""
    from classifier.engine import Scorer

    say = progress or (lambda _: None)
    started = time.perf_counter()
    work = Path(tempfile.mkdtemp(prefix=".onnx-", dir=version_dir))
    try:
        say("exporting to ONNX")
        export_onnx(fp32.model, work / "fp32.onnx", pad_id=fp32.pad_id)
        say("quantising (int8, per-channel)")
        quantize_onnx(work / "fp32.onnx", work / MODEL_FILE, config=getattr(fp32.model, "encoder").config)  # noqa: B009
        for name in os.listdir(work):
            if name != MODEL_FILE:
                (work / name).unlink()
        int8 = Scorer(
            fp32.spec,
            fp32.model,  # unused by the ORT forward, kept for explanations' interface
            fp32.tokenizer,
            fp32.calibration,
            fp32.thresholds,
            version=fp32.version,
            forward=OrtForward(work / MODEL_FILE, threads=threads),
        )
        say(f"checking ROC-AUC on {len(examples)} held-out examples, fp32 vs int8")
        check = check_int8(fp32, int8, examples)
        (work / CHECK_FILE).write_text(json.dumps(check.to_dict(), indent=2) + "\n", encoding="utf-8")
        dest = version_dir / ONNX_DIR
        if dest.exists():
            shutil.rmtree(dest)
        work.chmod(0o755)
        work.rename(dest)
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)
        raise
    verdict = "used by default" if check.ok else f"NOT used (loss above {MAX_AUC_LOSS})"
    say(
        f"int8 ROC-AUC {check.int8_roc_auc} vs fp32 {check.fp32_roc_auc} (loss {check.loss:+.4f}): {verdict}; "
        f"built in {time.perf_counter() - started:.0f}s"
    )
    return check


def build_version(
    settings: Any,
    version: str | None = None,
    *,
    force: bool = False,
    progress: Callable[[str], None] | None = None,
) -> Int8Check | None:
    """Build and check the int8 model of a registry version (default: production) from the seed
    data's held-out split. Returns None when ONNX Runtime is not installed or a checked build exists."""
    from classifier.data import DEFAULT_SEED_DIR, read_examples
    from classifier.engine import Scorer
    from classifier.registry import Registry
    from classifier.taxonomy import load_taxonomy

    say = progress or (lambda _: None)
    if not available():
        say("onnxruntime/onnx not installed: scoring stays on torch fp32")
        return None
    registry = Registry(settings.models_dir)
    name = registry.resolve(version)
    path = registry.path(name)
    if not force and read_check(path) is not None and model_path(path).is_file():
        say(f"{name}: int8 model already built ({read_check(path)})")
        return None
    fp32 = Scorer.from_registry(settings, name, quantize=False)
    held_out = [e for e in read_examples([DEFAULT_SEED_DIR], load_taxonomy()) if e.split == "test"]
    return build(fp32, path, held_out, threads=settings.torch_threads, progress=say)
