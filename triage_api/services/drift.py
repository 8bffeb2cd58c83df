"""Score drift of the production model, per source and per language: daily score distributions over
a window, and each group's PSI against the model's reference distribution (``classifier.drift``).

One aggregate query does the counting: the production version's scores of the window (by the day
they were scored, on the ``scores.created_at`` index), grouped by source, language, day and bin, so
what comes back is at most groups x days x bins rows however many items were scored.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Literal, NamedTuple

from sqlalchemy import ColumnElement, SQLColumnExpression, case, func, select
from sqlalchemy.orm import Session

from classifier.drift import BINS, EDGES, load_reference, psi, reference_job_key
from classifier.errors import ModelNotFoundError, RegistryError
from classifier.registry import Registry
from saqshy.context import Context
from saqshy.db.models import ContentItem, JobStatus, Score, Source
from saqshy.jobs import names
from saqshy.timeutil import utcnow

ReferenceStatus = Literal["ready", "computing", "failed", "no_model"]
NO_SOURCE = "—"


@dataclass
class DriftGroup:
    kind: Literal["source", "language"]
    key: str
    name: str
    count: int = 0
    total: float = 0.0
    histogram: list[int] = field(default_factory=lambda: [0] * BINS)
    # One histogram per day of the report's window, oldest first.
    daily: list[list[int]] = field(default_factory=list)
    psi: float | None = None
    # What the group is compared with: its language's held-out scores, or the whole held-out set.
    reference: Literal["language", "overall"] | None = None
    alert: bool = False

    @property
    def mean(self) -> float | None:
        return self.total / self.count if self.count else None


@dataclass
class DriftReport:
    model_version: str | None
    days: list[str]
    threshold: float
    min_count: int
    reference_status: ReferenceStatus
    reference_count: int | None = None
    reference_source: str | None = None
    reference_histogram: list[int] | None = None
    reference_error: str | None = None
    sources: list[DriftGroup] = field(default_factory=list)
    languages: list[DriftGroup] = field(default_factory=list)

    @property
    def bins(self) -> int:
        return BINS

    @property
    def edges(self) -> list[float]:
        return list(EDGES)


def score_bin(score: SQLColumnExpression[float]) -> ColumnElement[int]:
    """The fixed bin of a score, in SQL: the same edges as ``classifier.drift.histogram``."""
    return case(*[(score >= EDGES[i], i) for i in range(BINS - 1, 0, -1)], else_=0)


def utc_day(column: SQLColumnExpression[datetime], dialect: str) -> ColumnElement[str]:
    """The UTC calendar day of a timestamp as 'YYYY-MM-DD' (SQLite stores UTC text, date first)."""
    if dialect == "postgresql":
        return func.to_char(func.timezone("UTC", column), "YYYY-MM-DD")
    return func.substr(column, 1, 10)


def window_days(days: int, now: datetime) -> list[str]:
    today = now.astimezone(UTC).date()
    return [(today - timedelta(days=n)).isoformat() for n in range(days - 1, -1, -1)]


class DayBin(NamedTuple):
    source_id: int | None
    language: str
    day: str
    bin: int
    scores: int
    total: float


def daily_histograms(session: Session, model_version: str, days: list[str]) -> list[DayBin]:
    """Counts and score sums of ``model_version``'s scores in ``days`` per source, language, day and bin."""
    since = datetime.fromisoformat(days[0]).replace(tzinfo=UTC)
    # Bins and days are computed in a subquery and grouped outside it: PostgreSQL would not match
    # a GROUP BY expression whose bound parameters are not the SELECT's own.
    scored = (
        select(
            ContentItem.source_id.label("source_id"),
            ContentItem.language.label("language"),
            utc_day(Score.created_at, session.get_bind().dialect.name).label("day"),
            score_bin(Score.score).label("bin"),
            Score.score.label("score"),
        )
        .select_from(Score)
        .join(ContentItem, ContentItem.id == Score.item_id)
        .where(Score.model_version == model_version, Score.created_at >= since)
        .subquery()
    )
    keys = (scored.c.source_id, scored.c.language, scored.c.day, scored.c.bin)
    query = select(*keys, func.count(), func.sum(scored.c.score)).group_by(*keys)
    return [DayBin(sid, lang, str(d), int(b), int(n), float(total or 0.0))
            for sid, lang, d, b, n, total in session.execute(query)]


def _groups(rows: list[DayBin], days: list[str],
            source_names: dict[int, str]) -> tuple[dict[str, DriftGroup], dict[str, DriftGroup]]:
    position = {d: i for i, d in enumerate(days)}
    sources: dict[str, DriftGroup] = {}
    languages: dict[str, DriftGroup] = {}
    for sid, lang, day, bin_, count, total in rows:
        if day not in position:
            continue
        source_name = source_names.get(sid, NO_SOURCE) if sid is not None else NO_SOURCE
        keyed = [
            (sources, "source", str(sid) if sid is not None else "", source_name),
            (languages, "language", lang or "other", lang or "other"),
        ]
        for table, kind, key, name in keyed:
            group = table.get(key)
            if group is None:
                group = table[key] = DriftGroup(kind=kind, key=key, name=name,  # type: ignore[arg-type]
                                                daily=[[0] * BINS for _ in days])
            group.count += count
            group.total += total
            group.histogram[bin_] += count
            group.daily[position[day]][bin_] += count
    return sources, languages


def _score_groups(groups: list[DriftGroup], reference: dict[str, Any], threshold: float, min_count: int) -> None:
    per_language: dict[str, list[int]] = reference.get("languages") or {}
    for group in groups:
        expected = reference["histogram"]
        group.reference = "overall"
        own = per_language.get(group.key) if group.kind == "language" else None
        if own and sum(own) >= min_count:
            expected, group.reference = own, "language"
        group.psi = round(psi(expected, group.histogram), 4)
        group.alert = group.count >= min_count and group.psi > threshold


def _reference(ctx: Context, version: str) -> tuple[dict[str, Any] | None, ReferenceStatus, str | None]:
    """The production version's reference, or why there is none yet: a version without one gets the
    job that computes it (once: a failed job is reported, not retried on every request)."""
    reference = load_reference(Registry(ctx.settings.models_dir), version)
    if reference is not None:
        return reference, "ready", None
    key = reference_job_key(version)
    info = ctx.jobs.get(key)
    if info is not None and info.status == JobStatus.FAILED:
        lines = (info.last_error or "").strip().splitlines()
        return None, "failed", lines[-1] if lines else None
    if info is None or info.status == JobStatus.SUCCEEDED:
        ctx.jobs.enqueue(names.DRIFT_REFERENCE, {"version": version}, key=key,
                         force=info is not None)
    return None, "computing", None


def drift_report(ctx: Context, session: Session, *, days: int, now: datetime | None = None) -> DriftReport:
    """The production model's daily score distributions per source and language over the last
    ``days`` days (today included), with each group's PSI against the model's reference."""
    settings = ctx.settings
    axis = window_days(days, now or utcnow())
    version = Registry(settings.models_dir).production()
    report = DriftReport(model_version=version, days=axis, threshold=settings.drift_psi_alert,
                         min_count=settings.drift_min_count, reference_status="no_model")
    if version is None:
        return report
    rows = daily_histograms(session, version, axis)
    ids = {sid for sid, *_ in rows if sid is not None}
    names = {sid: name for sid, name in session.execute(select(Source.id, Source.name).where(Source.id.in_(ids)))}
    session.commit()  # the read is done; the reference job may be recorded in a transaction of its own
    sources, languages = _groups(rows, axis, names)
    report.sources = sorted(sources.values(), key=lambda g: (g.name, g.key))
    report.languages = sorted(languages.values(), key=lambda g: g.key)
    try:
        reference, report.reference_status, report.reference_error = _reference(ctx, version)
    except (ModelNotFoundError, RegistryError) as exc:  # the version's folder is gone or unreadable
        report.reference_status, report.reference_error = "failed", str(exc)
        return report
    if reference is not None:
        report.reference_count = int(reference.get("count") or sum(reference["histogram"]))
        report.reference_source = str(reference.get("source") or "") or None
        report.reference_histogram = list(reference["histogram"])
        _score_groups(report.sources + report.languages, reference, report.threshold, report.min_count)
    return report
