"""Load the base encoder: the converted e5 directory by default, or any transformers model.

``settings.base_model`` (``SAQSHY_BASE_MODEL``) may name a local transformers directory or a hub name
(for users who can reach a hub). Missing weights raise ``ModelNotFoundError`` with what to run,
never a transformers stack trace.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from classifier.convert import default_destination
from classifier.errors import ModelNotFoundError

if TYPE_CHECKING:
    from saqshy.settings import Settings

WEIGHT_FILES = ("model.safetensors", "model.safetensors.index.json", "pytorch_model.bin")
# Architectures whose base model takes ``add_pooling_layer``: skipping the unused pooler avoids a
# "weights not initialised" warning for e5 (converted without one).
_POOLER_MODELS = {"bert", "roberta", "xlm-roberta", "camembert"}


@dataclass(frozen=True)
class Encoder:
    name: str
    tokenizer: Any
    model: Any  # transformers PreTrainedModel (base model, no head)

    @property
    def hidden_size(self) -> int:
        return int(self.model.config.hidden_size)

    @property
    def max_length(self) -> int:
        limit = int(getattr(self.model.config, "max_position_embeddings", 512))
        # RoBERTa-family position ids start after the padding index.
        if getattr(self.model.config, "model_type", "") in {"roberta", "xlm-roberta", "camembert"}:
            limit -= 2
        return min(limit, 512)


def base_model_ref(settings: Settings) -> str:
    """What to load: ``settings.base_model`` if set, else the converted e5 directory."""
    if settings.base_model:
        return settings.base_model
    return str(default_destination(settings.models_dir))


def _looks_local(ref: str) -> bool:
    return ref.startswith((".", "/", "~")) or Path(ref).expanduser().exists() or ref.count("/") > 1


def check_local_model(path: Path) -> None:
    if not path.is_dir():
        raise ModelNotFoundError(
            f"no base model at {path}. Build it with `saqshy model build-base` "
            "(or scripts/build_base_model.py), or set SAQSHY_BASE_MODEL to a transformers model."
        )
    if not (path / "config.json").is_file() or not any((path / f).is_file() for f in WEIGHT_FILES):
        raise ModelNotFoundError(
            f"{path} has no model weights (expected config.json and one of {', '.join(WEIGHT_FILES)}). "
            "Rebuild it with `saqshy model build-base --force`."
        )


def load_encoder(ref: str, *, threads: int | None = None) -> Encoder:
    """Load tokenizer + base model from a directory or hub name, in eval mode, fp32."""
    import torch
    from transformers import AutoConfig, AutoModel, AutoTokenizer

    if threads:
        torch.set_num_threads(threads)
    local = _looks_local(ref)
    if local:
        path = Path(ref).expanduser()
        check_local_model(path)
        ref = str(path)
    try:
        config = AutoConfig.from_pretrained(ref, local_files_only=local)
        kwargs: dict[str, Any] = {}
        if config.model_type in _POOLER_MODELS:
            kwargs["add_pooling_layer"] = False
        tokenizer = AutoTokenizer.from_pretrained(ref, local_files_only=local)
        model = AutoModel.from_pretrained(ref, config=config, local_files_only=local, **kwargs)
    except (OSError, ValueError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ModelNotFoundError(
            f"cannot load the base model {ref!r}: {first}. Model hubs may be unreachable here: "
            "use `saqshy model build-base` and leave SAQSHY_BASE_MODEL unset, or point it at a local "
            "transformers directory."
        ) from None
    model.eval()
    return Encoder(name=ref, tokenizer=tokenizer, model=model)
