"""Calibration: per-output Platt scaling (temperature with a bias), fitted on a held-out split.

``p = sigmoid(a * logit + b)``; a = 1/T. Fitted by minimising the log-loss with L-BFGS; stored as
plain numbers in ``calibration.json`` so any language can apply it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np


@dataclass
class Calibration:
    outputs: list[str]
    a: list[float]
    b: list[float]
    method: str = "platt"

    def apply(self, logits: np.ndarray) -> np.ndarray:
        z = logits * np.asarray(self.a, dtype=np.float64) + np.asarray(self.b, dtype=np.float64)
        return 1.0 / (1.0 + np.exp(-np.clip(z, -50, 50)))

    def to_dict(self) -> dict[str, Any]:
        return {"method": self.method, "outputs": self.outputs, "a": self.a, "b": self.b}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Calibration:
        return cls(outputs=list(data["outputs"]), a=list(data["a"]), b=list(data["b"]), method=data["method"])

    @classmethod
    def identity(cls, outputs: list[str]) -> Calibration:
        return cls(outputs=list(outputs), a=[1.0] * len(outputs), b=[0.0] * len(outputs), method="identity")


def _fit_one(logit: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    import torch

    if y.min() == y.max():
        # one class only in the calibration split: keep the scale, shift toward the base rate
        return 1.0, 0.0
    x = torch.tensor(logit, dtype=torch.float64)
    t = torch.tensor(y, dtype=torch.float64)
    a = torch.ones((), dtype=torch.float64, requires_grad=True)
    b = torch.zeros((), dtype=torch.float64, requires_grad=True)
    opt = torch.optim.LBFGS([a, b], lr=0.5, max_iter=200, line_search_fn="strong_wolfe")

    def closure() -> torch.Tensor:
        opt.zero_grad()
        # small L2 pull toward identity keeps tiny calibration sets from over-sharpening
        loss = torch.nn.functional.binary_cross_entropy_with_logits(a * x + b, t)
        loss = loss + 1e-3 * ((a - 1) ** 2 + b**2)
        loss.backward()
        return loss

    opt.step(closure)
    a_val = float(a.detach())
    if not np.isfinite(a_val) or a_val <= 0:  # never invert the ranking
        return 1.0, 0.0
    return a_val, float(b.detach())


def fit_calibration(logits: np.ndarray, targets: np.ndarray, outputs: list[str]) -> Calibration:
    pairs = [_fit_one(logits[:, j], targets[:, j]) for j in range(logits.shape[1])]
    return Calibration(outputs=list(outputs), a=[p[0] for p in pairs], b=[p[1] for p in pairs])


def expected_calibration_error(probs: np.ndarray, y: np.ndarray, bins: int = 10) -> float:
    edges = np.linspace(0, 1, bins + 1)
    idx = np.clip(np.digitize(probs, edges[1:-1]), 0, bins - 1)
    total = 0.0
    for k in range(bins):
        sel = idx == k
        if sel.any():
            total += sel.mean() * abs(probs[sel].mean() - y[sel].mean())
    return float(total)
