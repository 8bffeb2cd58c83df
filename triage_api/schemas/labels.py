"""Labels per category and language against their target (active learning, the ML view)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class LabelCountPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    category: str = Field(description='A taxonomy category, or "legal" for the negatives')
    language: str = Field(description="The decided item's language: ru, kk, en, mixed or other")
    labels: int = Field(description="Decided labels, a near-duplicate cluster counted once (as in training)")
    target: int = Field(description="Labels wanted (label_target, or its override)")
    missing: int = Field(description="How many more labels reach the target (0 once reached)")


class LabelCoveragePublic(BaseModel):
    items: list[LabelCountPublic]
