"""The classifier network: a transformer encoder, mean pooling, and a small multi-label head.

Outputs ``len(categories) + 1`` logits: one per taxonomy category, and a last one, ``illegal``, for
"any category" (trained on its own, so the overall score is not just the max of the categories).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import torch
from torch import nn

OVERALL = "illegal"


@dataclass
class ModelSpec:
    """Everything needed to rebuild the network and feed it text; stored as ``spec.json``."""

    categories: list[str]
    base_model: str
    hidden_size: int
    head_hidden: int = 256
    dropout: float = 0.1
    prefix: str = "query: "  # e5 wants "query: " for classification and linear probing
    max_length: int = 512  # tokens per window, specials included
    stride: int = 64  # tokens shared by consecutive windows of a long text
    mode: str = "fast"
    encoder_in_registry: bool = False  # full mode saves the fine-tuned encoder with the version
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def outputs(self) -> list[str]:
        return [*self.categories, OVERALL]

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ModelSpec:
        return cls(**data)


class Head(nn.Module):
    def __init__(self, hidden_size: int, n_outputs: int, head_hidden: int = 256, dropout: float = 0.1):
        super().__init__()
        layers: list[nn.Module] = [nn.Dropout(dropout)]
        if head_hidden:
            layers += [nn.Linear(hidden_size, head_hidden), nn.GELU(), nn.Dropout(dropout)]
            layers.append(nn.Linear(head_hidden, n_outputs))
        else:
            layers.append(nn.Linear(hidden_size, n_outputs))
        self.net = nn.Sequential(*layers)

    def forward(self, pooled: torch.Tensor) -> torch.Tensor:
        return self.net(pooled)


def mean_pool(hidden: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
    mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
    return (hidden * mask).sum(1) / mask.sum(1).clamp(min=1.0)


class Classifier(nn.Module):
    """encoder -> mean pool -> head; returns raw logits (calibration is applied outside)."""

    def __init__(self, encoder: nn.Module, head: Head):
        super().__init__()
        self.encoder = encoder
        self.head = head

    def pooled(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        out = self.encoder(input_ids=input_ids, attention_mask=attention_mask)
        return mean_pool(out.last_hidden_state, attention_mask)

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        return self.head(self.pooled(input_ids, attention_mask))
