"""Model registry under ``models/``: one folder per version, exactly one production version.

    models/
      base/multilingual-e5-small/     converted encoder (classifier.convert)
      PRODUCTION                      the production version's name (one line; replaced atomically)
      PRODUCTION_HISTORY.json         the versions made production, oldest first (rollback pops it)
      <version>/
        spec.json                     network + input settings (classifier.model.ModelSpec)
        head.safetensors              the classification head
        encoder/                      only for full fine-tuning: the tuned encoder + tokenizer
        calibration.json thresholds.json metrics.json data.json model_card.md pr_curves.png
        gate.json                     the last gate report against production (classifier.gate)

A version folder is written under a temporary name and renamed when complete, so a half-written
version is never listed. Production is a single pointer file, so there is always at most one; the
first version trained becomes production when none is set.
"""

from __future__ import annotations

import builtins
import json
import logging
import os
import re
import shutil
import tempfile
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from classifier.errors import ModelNotFoundError, PromotionRefused, RegistryError
from saqshy.errors import ErrorCode

if TYPE_CHECKING:
    from classifier.engine import Scorer
    from saqshy.settings import Settings

logger = logging.getLogger(__name__)

POINTER = "PRODUCTION"
HISTORY = "PRODUCTION_HISTORY.json"
_VERSION_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")
_RESERVED = {"base", POINTER, HISTORY}


@dataclass
class VersionInfo:
    name: str
    path: Path
    created_at: str
    mode: str
    data_hash: str
    headline: str
    production: bool


def _read_json(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as exc:
        raise RegistryError(f"{path} is unreadable: {exc}") from None
    if not isinstance(data, dict):
        raise RegistryError(f"{path} is not a JSON object")
    return data


def write_json(path: Path, data: Any) -> None:
    path.write_text(json.dumps(data, ensure_ascii=False, indent=2, default=str) + "\n", encoding="utf-8")


class Registry:
    def __init__(self, root: Path):
        self.root = root

    # ------------------------------------------------------------------ reading
    def production(self) -> str | None:
        try:
            name = (self.root / POINTER).read_text(encoding="utf-8").strip()
        except FileNotFoundError:
            return None
        return name or None

    def path(self, version: str) -> Path:
        if not _VERSION_RE.match(version) or version in _RESERVED:
            raise RegistryError(f"invalid version name {version!r}")
        path = self.root / version
        if not (path / "spec.json").is_file():
            known = ", ".join(v.name for v in self.list()) or "none"
            raise ModelNotFoundError(f"no model version {version!r} in {self.root} (known: {known})")
        return path

    def resolve(self, version: str | None) -> str:
        if version:
            self.path(version)
            return version
        production = self.production()
        if production is None:
            raise ModelNotFoundError(
                f"no production model in {self.root}. Train one with `saqshy train` "
                "(the first trained version becomes production), or promote one with `saqshy model promote`."
            )
        self.path(production)
        return production

    def list(self) -> list[VersionInfo]:
        if not self.root.is_dir():
            return []
        production = self.production()
        infos = []
        for child in sorted(self.root.iterdir()):
            if child.name.startswith(".") or child.name in _RESERVED or not (child / "spec.json").is_file():
                continue
            data = _read_json(child / "data.json")
            metrics = _read_json(child / "metrics.json")
            spec = _read_json(child / "spec.json")
            infos.append(
                VersionInfo(
                    name=child.name,
                    path=child,
                    created_at=str(data.get("created_at", "")),
                    mode=str(spec.get("mode", "")),
                    data_hash=str(data.get("data_hash", ""))[:12],
                    headline=str(metrics.get("headline", "")),
                    production=child.name == production,
                )
            )
        return sorted(infos, key=lambda v: (v.created_at, v.name))

    def show(self, version: str | None = None) -> dict[str, Any]:
        name = self.resolve(version)
        path = self.path(name)
        return {
            "name": name,
            "production": name == self.production(),
            "path": str(path),
            "spec": _read_json(path / "spec.json"),
            "data": _read_json(path / "data.json"),
            "thresholds": _read_json(path / "thresholds.json"),
            "calibration": _read_json(path / "calibration.json"),
            "metrics": _read_json(path / "metrics.json"),
        }

    def history(self) -> builtins.list[str]:
        """Versions made production, oldest first; the last is production unless edited by hand."""
        data = _read_json(self.root / HISTORY)
        versions = data.get("versions", [])
        if not isinstance(versions, list) or not all(isinstance(v, str) for v in versions):
            raise RegistryError(f"{self.root / HISTORY} is not a list of versions")
        return list(versions)

    def previous(self) -> str:
        """The production version before the current one: what a rollback restores."""
        stack = self.history()
        production = self.production()
        if production is None or len(stack) < 2 or stack[-1] != production:
            raise PromotionRefused("there is no earlier production version to roll back to",
                                   code=ErrorCode.ROLLBACK_NONE)
        return stack[-2]

    def report(self, version: str, name: str) -> dict[str, Any]:
        return _read_json(self.path(version) / name)

    def save_report(self, version: str, name: str, data: dict[str, Any]) -> Path:
        path = self.path(version) / name
        fd, tmp = tempfile.mkstemp(prefix=f".{name}-", dir=path.parent)
        os.close(fd)
        write_json(Path(tmp), data)
        os.replace(tmp, path)
        return path

    # ------------------------------------------------------------------ writing
    def _replace(self, name: str, text: str) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{name.lower()}-", dir=self.root)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
        os.replace(tmp, self.root / name)  # atomic: readers see the old or the new content

    def _set_production(self, version: str, stack: builtins.list[str]) -> str:
        self._replace(HISTORY, json.dumps({"versions": stack}, indent=1) + "\n")
        self._replace(POINTER, version + "\n")
        return version

    def promote(self, version: str) -> str:
        """Point production at ``version`` (unchecked: the gate is ``classifier.promotion``'s)."""
        self.path(version)
        stack = self.history()
        current = self.production()
        if current is not None and (not stack or stack[-1] != current):
            stack.append(current)  # a registry from before the history file: remember what it had
        if not stack or stack[-1] != version:
            stack.append(version)
        return self._set_production(version, stack)

    def rollback(self) -> str:
        """Make the previous production version production again; returns it."""
        target = self.previous()
        self.path(target)
        return self._set_production(target, self.history()[:-1])

    def new_version_name(self, mode: str, data_hash: str) -> str:
        stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
        name = f"{stamp}-{mode}-{data_hash[:8]}"
        n = 1
        while (self.root / name).exists():
            n += 1
            name = f"{stamp}-{mode}-{data_hash[:8]}-{n}"
        return name

    def staging_dir(self) -> Path:
        self.root.mkdir(parents=True, exist_ok=True)
        return Path(tempfile.mkdtemp(prefix=".staging-", dir=self.root))

    def publish(self, staging: Path, version: str, *, promote_if_none: bool = True) -> Path:
        if not _VERSION_RE.match(version) or version in _RESERVED:
            raise RegistryError(f"invalid version name {version!r}")
        dest = self.root / version
        if dest.exists():
            raise RegistryError(f"version {version!r} already exists")
        staging.chmod(0o755)
        staging.rename(dest)
        if promote_if_none and self.production() is None:
            self.promote(version)
        return dest

    def discard(self, staging: Path) -> None:
        shutil.rmtree(staging, ignore_errors=True)

    # ------------------------------------------------------------------ loading
    def load_scorer(
        self,
        version: str | None = None,
        *,
        settings: Settings | None = None,
        quantize: bool | None = None,
        threads: int | None = None,
        batch_tokens: int = 8192,
    ) -> Scorer:
        """``quantize``: None (the production default, what the score_items job loads) = the version's
        ONNX Runtime int8 model when built, of the current format and within 0.005 ROC-AUC of fp32
        (classifier.onnx_int8.usable), else torch fp32; True = ONNX int8 if built at all, else torch
        int8 (attention); False = torch fp32. A model file that does not load falls back to torch."""
        from safetensors.torch import load_file

        from classifier.calibration import Calibration
        from classifier.engine import Scorer
        from classifier.loading import load_encoder
        from classifier.model import Classifier, Head, ModelSpec

        name = self.resolve(version)
        path = self.path(name)
        spec = ModelSpec.from_dict(_read_json(path / "spec.json"))
        if spec.encoder_in_registry:
            encoder_ref = str(path / "encoder")
        else:
            ref = Path(spec.base_model)
            encoder_ref = (
                str(self.root / ref) if not ref.is_absolute() and (self.root / ref).exists() else spec.base_model
            )
        encoder = load_encoder(encoder_ref, threads=threads)
        if encoder.hidden_size != spec.hidden_size:
            raise RegistryError(
                f"version {name!r} was trained on a {spec.hidden_size}-wide encoder but {encoder_ref} is "
                f"{encoder.hidden_size}-wide; set SAQSHY_BASE_MODEL back or retrain"
            )
        head = Head(spec.hidden_size, len(spec.outputs), spec.head_hidden, spec.dropout)
        head.load_state_dict(load_file(str(path / "head.safetensors")))
        model = Classifier(encoder.model, head)
        calibration = Calibration.from_dict(_read_json(path / "calibration.json"))
        thresholds = {k: float(v) for k, v in _read_json(path / "thresholds.json").items()}
        forward = None
        if quantize is not False:
            from classifier import onnx_int8

            if quantize is None:
                use = onnx_int8.usable(path)
            else:
                use = onnx_int8.model_path(path).is_file() and onnx_int8.available()
            if use:
                try:
                    forward = onnx_int8.OrtForward(onnx_int8.model_path(path), threads=threads)
                except Exception as exc:  # a broken onnxruntime install must not stop scoring
                    logger.warning("ONNX int8 model of %s not loadable (%s); using torch", name, exc)
        return Scorer(
            spec,
            model,
            encoder.tokenizer,
            calibration,
            thresholds,
            version=name,
            quantize=bool(quantize) and forward is None,
            threads=threads,
            batch_tokens=batch_tokens,
            forward=forward,
        )
