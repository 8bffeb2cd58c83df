"""Score drift of the production model per source and per language (``GET /models/drift``)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class DriftGroupPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    kind: Literal["source", "language"]
    key: str = Field(description="The source's id (empty for items without one) or the language code")
    name: str
    count: int = Field(description="Scores in the window")
    mean: float | None = Field(description="Mean score in the window")
    histogram: list[int] = Field(description="Scores per fixed bin over [0, 1] in the window")
    daily: list[list[int]] = Field(description="One histogram per day of ``days``, oldest first")
    psi: float | None = Field(description="Population stability index against the reference; null without one")
    reference: Literal["language", "overall"] | None = Field(
        description="The language's own held-out scores, or the whole held-out set")
    alert: bool = Field(description="PSI above the threshold with at least min_count scores")


class DriftReportPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    model_version: str | None = Field(description="The production version whose scores are shown")
    days: list[str] = Field(description="The window's days (UTC, oldest first), by the day each item was scored")
    bins: int
    edges: list[float]
    threshold: float = Field(description="PSI above which a group is flagged (SAQSHY_DRIFT_PSI_ALERT)")
    min_count: int = Field(description="Scores a group needs before it is flagged (SAQSHY_DRIFT_MIN_COUNT)")
    reference_status: Literal["ready", "computing", "failed", "no_model"] = Field(
        description="ready; computing (the version's reference is being computed from the held-out set); "
                    "failed (reference_error says why); no_model (no production version)")
    reference_count: int | None = None
    reference_source: str | None = Field(
        default=None, description="What the reference was scored on: test_split (at training) or heldout")
    reference_histogram: list[int] | None = None
    reference_error: str | None = None
    sources: list[DriftGroupPublic]
    languages: list[DriftGroupPublic]
