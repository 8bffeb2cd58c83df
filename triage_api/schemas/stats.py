"""Statistics of the queue, decisions, agreement and police outcomes."""

from __future__ import annotations

from pydantic import ConfigDict

from triage_api.schemas.common import UtcDatetime
from triage_api.services.stats import Agreement, DayCount, QueueDepth, Stats
from triage_api.services.takedown import TakedownStats


class QueueDepthPublic(QueueDepth):
    model_config = ConfigDict(from_attributes=True)


class DayCountPublic(DayCount):
    model_config = ConfigDict(from_attributes=True)


class AgreementPublic(Agreement):
    model_config = ConfigDict(from_attributes=True)


class TakedownPublic(TakedownStats):
    model_config = ConfigDict(from_attributes=True)


class StatsPublic(Stats):
    model_config = ConfigDict(from_attributes=True)

    generated_at: UtcDatetime
    queue_depth: list[QueueDepthPublic]
    decisions_per_day: list[DayCountPublic]
    agreement: AgreementPublic
    takedown: TakedownPublic
