"""Fast path: the classifier exported to ONNX, fused and int8-quantised for ONNX Runtime.

Built once per registry version (``saqshy model quantize``, and by the install step for the default
model) into ``<version>/onnx/``:

    model-int8.onnx   encoder + mean pooling + head; fused (Attention, EmbedLayerNormalization,
                      SkipLayerNormalization, BiasGelu), then dynamic int8: per-channel int8 weights,
                      8-bit activations (QAttention, MatMulInteger, QEmbedLayerNormalization)
    check.json        ROC-AUC on the seed data's held-out split, fp32 (torch) vs int8 (ONNX Runtime),
                      the CPU seconds of both on those texts, and the graph's op counts

It is the production default once built, checked (at most MAX_AUC_LOSS ROC-AUC below fp32) and of the
current FORMAT; without onnxruntime, with a missing, failed, stale or broken file the engine runs
torch fp32. On an x86 CPU without VNNI the weights are 7-bit (``saturating_cpu``), and a build with
8-bit weights from a VNNI machine is rebuilt rather than used there.

The export uses eager attention, because ORT's transformer optimizer can fuse it into Attention (and
quantise it whole), not torch's SDPA glue; ORT int8 rather than ``torch.ao``, because it stays within
noise of fp32 per language; the fused graph is kept as checked, because any change to it redraws the
per-language figures; intra-op spinning is off, because spinning threads burn a shared CPU. The
measurements behind each choice are in docs/performance.md.
"""

from __future__ import annotations

import contextlib
import functools
import importlib.util
import json
import logging
import os
import platform
import shutil
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
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
# 2: eager-attention export, fused Attention/EmbedLayerNormalization quantised. Builds of an older
# format (SDPA export, unfused, no faster than fp32) are not used by default and are rebuilt.
FORMAT = 2
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
    fp32_cpu_seconds: float = 0.0
    int8_cpu_seconds: float = 0.0
    ops: dict[str, int] = field(default_factory=dict)
    format: int = FORMAT
    reduce_range: bool = False

    @property
    def loss(self) -> float:
        return self.fp32_roc_auc - self.int8_roc_auc

    @property
    def ok(self) -> bool:
        return self.loss <= MAX_AUC_LOSS

    @property
    def speedup(self) -> float:
        """fp32 CPU seconds over int8 CPU seconds on the check's texts (0 when not measured)."""
        return round(self.fp32_cpu_seconds / self.int8_cpu_seconds, 2) if self.int8_cpu_seconds > 0 else 0.0

    def to_dict(self) -> dict[str, Any]:
        return {
            **asdict(self),
            "loss": round(self.loss, 4),
            "max_loss": MAX_AUC_LOSS,
            "ok": self.ok,
            "cpu_speedup": self.speedup,
        }


def read_check(version_dir: Path) -> dict[str, Any] | None:
    try:
        data = json.loads((version_dir / ONNX_DIR / CHECK_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def saturating_cpu() -> bool:
    """Whether ONNX Runtime's int8 kernels can saturate here: an x86-64 CPU without VNNI.

    Without VNNI, ORT multiplies u8 activations by s8 weights with VPMADDUBSW, which adds each pair
    of products into a saturating int16: two full-range products (255 x 127 each) overflow it. Its
    documentation's remedy is 7-bit weights (``reduce_range``), whose pairs always fit (measured in
    docs/performance.md). ARM and VNNI CPUs do not saturate.
    Where the CPU's features cannot be read (x86 outside Linux), assume it saturates.
    """
    if platform.machine().lower() not in ("x86_64", "amd64"):
        return False
    flags = _cpu_flags()
    return flags is None or not {"avx512_vnni", "avx_vnni"} & flags


@functools.cache
def _cpu_flags() -> frozenset[str] | None:
    """The CPU's feature flags from ``/proc/cpuinfo`` (read once: every registry load asks), or None."""
    try:
        cpuinfo = Path("/proc/cpuinfo").read_text(encoding="utf-8", errors="replace")
    except OSError:
        return None
    return frozenset(next((line.split(":", 1)[1].split() for line in cpuinfo.splitlines()
                           if line.startswith("flags")), []))


def current(check: dict[str, Any] | None) -> bool:
    """A check of a build of the current FORMAT whose weights suit this CPU (8-bit weights on a CPU
    whose kernels saturate do not: ``saturating_cpu``); other builds are rebuilt, not used by default."""
    if not check or check.get("format") != FORMAT:
        return False
    if check.get("reduce_range") or not saturating_cpu():
        return True
    logger.warning("the int8 model has 8-bit weights, which this CPU's kernels (no VNNI) can saturate: "
                   "scoring runs torch fp32 until `saqshy model quantize --force` rebuilds it here")
    return False


def usable(version_dir: Path) -> bool:
    """The int8 model exists, is of the current format, passed its AUC check, and onnxruntime imports."""
    check = read_check(version_dir)
    return (
        current(check)
        and bool(check and check.get("ok"))
        and model_path(version_dir).is_file()
        and importlib.util.find_spec("onnxruntime") is not None
    )


class OrtForward:
    """``(input_ids, attention_mask) -> logits`` on an ONNX Runtime session (what run_windows calls)."""

    def __init__(self, path: Path, *, threads: int | None = None, spinning: bool = False):
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        options.inter_op_num_threads = 1
        if threads:
            options.intra_op_num_threads = threads
        # idle pool threads sleep instead of spinning on cores other processes (or torch) need
        options.add_session_config_entry("session.intra_op.allow_spinning", "1" if spinning else "0")
        self.path = path
        self.session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])

    def __call__(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        feeds = {"input_ids": input_ids.numpy(), "attention_mask": attention_mask.numpy()}
        return torch.from_numpy(self.session.run(None, feeds)[0])


@contextlib.contextmanager
def eager_attention(model: torch.nn.Module) -> Iterator[None]:
    """Switch a transformers encoder to eager attention for the export (SDPA traces into glue that
    ORT's optimizer cannot fuse into Attention); the previous implementation is restored after."""
    encoder: Any = getattr(model, "encoder", model)
    config = getattr(encoder, "config", None)
    before = getattr(config, "_attn_implementation", None)
    setter = getattr(encoder, "set_attn_implementation", None)
    if config is None or before in (None, "eager") or setter is None:
        yield
        return
    try:
        setter("eager")
    except (ValueError, AttributeError, NotImplementedError) as exc:  # a model without eager attention
        logger.info("eager attention not available (%s); exporting with %s", exc, before)
        yield
        return
    try:
        yield
    finally:
        setter(before)


def export_onnx(model: torch.nn.Module, path: Path, *, pad_id: int) -> None:
    """Trace encoder + pooling + head to ONNX with dynamic batch and sequence axes (eager attention)."""
    import warnings

    # The example batch has padding, so the traced graph keeps the attention-mask path (a batch
    # without padding could let the encoder skip the mask and bake that shortcut into the trace).
    ids = torch.tensor([[0, 5, 6, 7, 8, 2], [0, 5, 6, 2, pad_id, pad_id]], dtype=torch.long)
    mask = (torch.arange(ids.shape[1]) < torch.tensor([[6], [4]])).long()
    model.eval()
    with warnings.catch_warnings(), torch.no_grad(), eager_attention(model):
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


def op_counts(path: Path) -> dict[str, int]:
    """How many nodes of each op type the ONNX graph at ``path`` has (weights not loaded)."""
    import onnx

    graph = onnx.load(str(path), load_external_data=False).graph
    return dict(sorted(Counter(node.op_type for node in graph.node).items()))


def quantize_onnx(source: Path, dest: Path, *, config: Any, reduce_range: bool = False) -> dict[str, int]:
    """Fuse (Attention, EmbedLayerNormalization, SkipLayerNormalization, BiasGelu) for BERT-like
    encoders, then dynamic int8 with per-channel weights (7-bit with ``reduce_range``, for CPUs whose
    kernels saturate: ``saturating_cpu``); returns the int8 graph's op counts."""
    from onnx import TensorProto
    from onnxruntime.quantization import QuantType, quantize_dynamic

    to_quantize = source
    op_types: list[str] | None = None  # None: every op type the quantiser supports
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
        fused_ops = optimized.get_fused_operator_statistics()
        if not fused_ops.get("Attention"):
            logger.warning("ONNX export: attention did not fuse (%s); the int8 model will be slower", fused_ops)
        to_quantize = fused
        # the fused attention is quantised whole (QAttention), the embeddings as QEmbedLayerNormalization
        op_types = ["MatMul", "Attention", "EmbedLayerNormalization", "Gather"]
    root = logging.getLogger()
    level = root.level
    root.setLevel(max(level, logging.WARNING))  # the quantiser logs every tensor at INFO on the root logger
    try:
        quantize_dynamic(
            str(to_quantize),
            str(dest),
            weight_type=QuantType.QInt8,
            per_channel=True,
            reduce_range=reduce_range,
            op_types_to_quantize=op_types,
            # fused ops are outside ONNX's shape inference: their outputs are float
            extra_options={"DefaultTensorType": TensorProto.FLOAT},
        )
    finally:
        root.setLevel(level)
    return op_counts(dest)


def check_int8(fp32: Scorer, int8: Scorer, examples: Sequence[Example]) -> Int8Check:
    """ROC-AUC of the overall output, fp32 vs int8, on the given (held-out) examples."""
    from sklearn.metrics import roc_auc_score

    start = time.perf_counter()
    texts = [e.text for e in examples]
    labels = np.array([e.is_illegal for e in examples], dtype=np.int64)
    fp32.probabilities(texts[:4]), int8.probabilities(texts[:4])  # first-call set-up is not speed
    cpu = time.process_time()
    p32 = fp32.probabilities(texts)
    fp32_cpu = time.process_time() - cpu
    cpu = time.process_time()
    p8 = int8.probabilities(texts)
    int8_cpu = time.process_time() - cpu
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
        fp32_cpu_seconds=round(fp32_cpu, 2),
        int8_cpu_seconds=round(int8_cpu, 2),
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
        reduce_range = saturating_cpu()
        say(f"quantising (int8, per-channel{', 7-bit weights: this CPU has no VNNI' if reduce_range else ''})")
        ops = quantize_onnx(work / "fp32.onnx", work / MODEL_FILE, config=getattr(fp32.model, "encoder").config,  # noqa: B009
                            reduce_range=reduce_range)
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
        check.ops = ops
        check.reduce_range = reduce_range
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
        f"{check.speedup}x less CPU than torch fp32 on those texts; built in {time.perf_counter() - started:.0f}s"
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
    data's held-out split. Returns None when ONNX Runtime is not installed or a checked build of the
    current format exists (a build of an older format is replaced)."""
    from classifier.data import DEFAULT_SEED_DIR, read_examples
    from classifier.engine import Scorer
    from classifier.registry import Registry
    from classifier.taxonomy import load_taxonomy

    say = progress or (lambda _: None)
    if not available():
        say("onnxruntime/onnx not installed: scoring runs torch fp32")
        return None
    registry = Registry(settings.models_dir)
    name = registry.resolve(version)
    path = registry.path(name)
    check = read_check(path)
    if not force and current(check) and model_path(path).is_file():
        say(f"{name}: int8 model already built ({check})")
        return None
    fp32 = Scorer.from_registry(settings, name, quantize=False)
    held_out = [e for e in read_examples([DEFAULT_SEED_DIR], load_taxonomy()) if e.split == "test"]
    return build(fp32, path, held_out, threads=settings.torch_threads, progress=say)
