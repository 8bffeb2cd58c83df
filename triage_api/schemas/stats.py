"""Statistics of the queue, decisions, agreement and police outcomes."""

from __future__ import annotations

from datetime import date

from pydantic import BaseModel, ConfigDict

from triage_api.schemas.common import UtcDatetime


class QueueDepthPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    category: str
    open: int
    needs_moderator: int


class DayCountPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    day: date
    decisions: int
    illegal: int
    legal: int
    unsure: int


class AgreementPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    tasks: int
    pairs: int
    pairwise_agreement: float | None
    fleiss_kappa: float | None


class TakedownPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    cases: int
    offline: int
    share_offline: float
    median_hours_to_offline: float | None
    p90_hours_to_offline: float | None


class StatsPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    window_days: int
    generated_at: UtcDatetime
    queue_depth: list[QueueDepthPublic]
    decisions_per_day: list[DayCountPublic]
    decisions_in_window: int
    median_hours_to_decision: float | None
    agreement: AgreementPublic
    cases_by_status: dict[str, int]
    cases_by_outcome: dict[str, int]
    takedown: TakedownPublic
