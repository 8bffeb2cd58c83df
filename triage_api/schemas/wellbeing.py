"""Reviewer wellbeing: what a reviewer (or their moderator) sees and may change."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

MAX_DAILY_CAP = 2_000
Budget = Annotated[int, Field(ge=0, le=MAX_DAILY_CAP)]


class CategoryExposure(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    name: str
    label: dict[str, str]
    severity: str
    requires_opt_in: bool
    opted_in: bool
    budget: int | None = Field(description="Items of this category a shift; null: no budget")
    shift_count: int = Field(description="Items of this category voted on in the current shift")
    own_daily_budget: int | None = Field(description="The reviewer's own limit a day; null: none")
    today_count: int = Field(description="Items of this category voted on since 00:00 UTC")
    blur_text: bool = Field(description="Whether the item text of this category is blurred until revealed")
    served: bool = Field(description="Whether the queue serves this category to the reviewer now")


class WellbeingPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    user_id: int
    daily_cap: int | None = Field(description="Set by moderators; null: no cap")
    reviewed_today: int = Field(description="Votes since 00:00 UTC")
    cap_reached: bool
    shift_hours: int
    shift_started_at: datetime
    break_every_minutes: int
    categories: list[CategoryExposure]
    excluded_categories: list[str]


class WellbeingSelfUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    opt_in_categories: list[str] | None = Field(default=None, max_length=64)
    break_every_minutes: int | None = Field(default=None, ge=10, le=240)
    daily_budgets: dict[str, Budget | None] | None = Field(
        default=None, max_length=64,
        description="The reviewer's own per-category daily limits; null value: no limit of their own",
    )
    blur_text_categories: list[str] | None = Field(
        default=None, max_length=64, description="Categories whose item text is blurred until revealed"
    )


class WellbeingModeratorUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    daily_cap: int | None = Field(default=None, ge=1, le=MAX_DAILY_CAP)
    budgets: dict[str, int | None] | None = Field(
        default=None, description="Per-category shift budget overrides; null value: back to the default"
    )
