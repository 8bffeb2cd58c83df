"""Training data from the review work: ``saqshy dataset export`` writes what ``saqshy train --data`` reads.

One export is a folder ``<out>/<version>/`` holding ``reviews.jsonl`` (classifier.data's format) and
``manifest.json`` (counts per category, language, label source and split; time range; content hash).

Labels come from four sources, strongest first: a police outcome (overrides the volunteers), a gold
task's known answer, a moderator's resolution, the volunteers' consensus. Each record says which.
A decision labels every member of its near-duplicate cluster; the cluster is the unit of splitting
(all members share one split) and counts once in training (``classifier.data.dedupe_clusters``).

Splits are by time and by cluster, and frozen: ``<out>/splits.json`` remembers each cluster's split,
so a cluster once held out stays held out and one trained on is never held out later. New clusters
are split by the time of their first decision: the newest go to test, the next to calibration.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from classifier.data import LANGS, SPLIT_SHARES, data_hash, read_examples
from classifier.errors import InvalidInputError
from classifier.jobs import item_text
from classifier.taxonomy import Taxonomy
from saqshy.db.models import Case, ContentItem, ReviewTask, TaskStatus, Verdict
from saqshy.timeutil import as_utc
from triage_api.services.cases import label_for

LABEL_SOURCES = ("police", "gold", "moderator", "consensus")
DATA_FILE = "reviews.jsonl"
MANIFEST = "manifest.json"
LEDGER = "splits.json"
ID_CHUNK = 5000


@dataclass(frozen=True)
class Decision:
    """One reviewed item's label, before it is spread over the item's cluster."""

    item_id: int
    cluster: str
    labels: tuple[str, ...]
    source: str
    decided_at: datetime


@dataclass(frozen=True)
class ExportResult:
    path: Path
    version: str
    manifest: dict[str, Any]


def cluster_key(item_id: int, cluster_id: int | None) -> str:
    return f"cluster-{cluster_id}" if cluster_id is not None else f"item-{item_id}"


def _category_labels(verdict: Verdict, category: str | None, taxonomy: Taxonomy) -> tuple[str, ...] | None:
    """The example's labels; None when an illegal verdict names no known category (unusable)."""
    if verdict == Verdict.LEGAL:
        return ()
    return (category,) if category is not None and category in taxonomy else None


def decisions(session: Session, taxonomy: Taxonomy, since: datetime | None = None) -> tuple[list[Decision], int]:
    """Every usable decision (and how many were skipped), strongest source first per item."""
    found: list[Decision] = []
    skipped = 0
    decided = (
        select(ReviewTask, ContentItem.cluster_id, Case.outcome)
        .join(ContentItem, ContentItem.id == ReviewTask.item_id)
        .outerjoin(Case, Case.task_id == ReviewTask.id)
        .where(ReviewTask.status == TaskStatus.DECIDED, ReviewTask.decision.in_([Verdict.ILLEGAL, Verdict.LEGAL]))
    )
    gold = (
        select(ReviewTask, ContentItem.cluster_id)
        .join(ContentItem, ContentItem.id == ReviewTask.item_id)
        .where(ReviewTask.is_gold.is_(True), ReviewTask.gold_verdict.in_([Verdict.ILLEGAL, Verdict.LEGAL]))
    )
    if since is not None:
        decided = decided.where(ReviewTask.decided_at >= since)
        gold = gold.where(ReviewTask.created_at >= since)
    for task, cluster_id, outcome in session.execute(decided):
        assert task.decision is not None and task.decided_at is not None
        verdict, source = label_for(task.decision, outcome)
        if source == "consensus" and task.decided_by_id is not None:
            source = "moderator"
        labels = _category_labels(verdict, task.decided_category or task.category, taxonomy)
        if labels is None:
            skipped += 1
            continue
        found.append(Decision(task.item_id, cluster_key(task.item_id, cluster_id), labels, source,
                              as_utc(task.decided_at)))
    for task, cluster_id in session.execute(gold):
        assert task.gold_verdict is not None
        labels = _category_labels(task.gold_verdict, task.gold_category, taxonomy)
        if labels is None:
            skipped += 1
            continue
        found.append(Decision(task.item_id, cluster_key(task.item_id, cluster_id), labels, "gold",
                              as_utc(task.created_at)))
    found.sort(key=lambda d: (LABEL_SOURCES.index(d.source), -d.decided_at.timestamp(), d.item_id))
    return found, skipped


def assign_splits(first_decided: dict[str, datetime], ledger: dict[str, str]) -> dict[str, str]:
    """Each cluster's split: the ledger's if it has one, else by time among the new clusters."""
    splits = {c: ledger[c] for c in first_decided if c in ledger}
    new = sorted((c for c in first_decided if c not in ledger), key=lambda c: (first_decided[c], c))
    n_test = round(len(new) * SPLIT_SHARES["test"])
    n_calibration = round(len(new) * SPLIT_SHARES["calibration"])
    for rank, cluster in enumerate(reversed(new)):  # newest first
        splits[cluster] = "test" if rank < n_test else "calibration" if rank < n_test + n_calibration else "train"
    return splits


def _records(session: Session, chosen: list[Decision], splits: dict[str, str]) -> list[dict[str, Any]]:
    """One record per item: its own decision if it has one, else its cluster's strongest."""
    by_item: dict[int, Decision] = {}
    by_cluster: dict[str, Decision] = {}
    for d in chosen:
        by_item.setdefault(d.item_id, d)
        by_cluster.setdefault(d.cluster, d)
    cluster_ids = [int(c.removeprefix("cluster-")) for c in by_cluster if c.startswith("cluster-")]
    records = []
    for item in _items(session, sorted(by_item), cluster_ids):
        text = item_text(item)
        if item.is_binary or not text.strip():
            continue
        key = cluster_key(item.id, item.cluster_id)
        own = by_item.get(item.id)
        decision = own or by_cluster.get(key)
        if decision is None:
            continue
        records.append({
            "id": f"item-{item.id}",
            "text": text,
            "lang": item.language if item.language in LANGS else "other",
            "labels": list(decision.labels),
            "kind": "positive" if decision.labels else "negative",
            "group": decision.cluster,
            "cluster": decision.cluster,
            "split": splits[decision.cluster],
            "label_source": decision.source,
            "labelled_by": "item" if own is not None else "cluster",
            "item_id": item.id,
            "decided_at": decision.decided_at.isoformat(timespec="seconds"),
        })
    # The decided item first within its cluster: it is the one training keeps.
    records.sort(key=lambda r: (r["cluster"], r["labelled_by"] != "item", r["item_id"]))
    return records


def _items(session: Session, item_ids: list[int], cluster_ids: list[int]) -> list[ContentItem]:
    """The decided items and their clusters' members, in id order; queried in chunks (SQLite caps
    the number of bound parameters)."""
    found: dict[int, ContentItem] = {}
    for column, ids in ((ContentItem.id, item_ids), (ContentItem.cluster_id, cluster_ids)):
        for start in range(0, len(ids), ID_CHUNK):
            for item in session.scalars(select(ContentItem).where(column.in_(ids[start : start + ID_CHUNK]))):
                found[item.id] = item
    return [found[i] for i in sorted(found)]


def read_ledger(out: Path) -> dict[str, str]:
    path = out / LEDGER
    if not path.is_file():
        return {}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise InvalidInputError(f"{path} is unreadable ({exc}); it records the frozen splits: restore it") from None
    if not isinstance(data, dict) or not all(isinstance(v, str) for v in data.get("clusters", {}).values()):
        raise InvalidInputError(f"{path} is not a split ledger")
    return dict(data.get("clusters", {}))


def _write_atomic(path: Path, text: str) -> None:
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(text)
    os.replace(tmp, path)


def _counts(records: Iterable[dict[str, Any]], field: str) -> dict[str, int]:
    return dict(sorted(Counter(str(r[field]) for r in records).items()))


def manifest_for(version: str, records: list[dict[str, Any]], content_hash: str, **extra: Any) -> dict[str, Any]:
    times = sorted(r["decided_at"] for r in records)
    return {
        "version": version,
        "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "content_hash": content_hash,
        "examples": len(records),
        "clusters": len({r["cluster"] for r in records}),
        "time_range": {"first": times[0] if times else None, "last": times[-1] if times else None},
        "by_category": dict(sorted(Counter(label for r in records for label in r["labels"] or ["legal"]).items())),
        "by_language": _counts(records, "lang"),
        "by_label_source": _counts(records, "label_source"),
        "by_split": _counts(records, "split"),
        "files": [DATA_FILE],
        **extra,
    }


def export_dataset(
    session: Session, taxonomy: Taxonomy, out: Path, *, since: datetime | None = None
) -> ExportResult:
    """Write a new dataset version under ``out`` and update the split ledger; nothing on bad input."""
    chosen, skipped = decisions(session, taxonomy, since)
    if not chosen:
        raise InvalidInputError("no decided items to export" + (f" since {since.isoformat()}" if since else ""))
    out.mkdir(parents=True, exist_ok=True)
    ledger = read_ledger(out)
    first_decided: dict[str, datetime] = {}
    for d in chosen:
        first_decided[d.cluster] = min(d.decided_at, first_decided.get(d.cluster, d.decided_at))
    splits = assign_splits(first_decided, ledger)
    records = _records(session, chosen, splits)
    body = "".join(json.dumps(r, ensure_ascii=False, sort_keys=True) + "\n" for r in records)
    staging = Path(tempfile.mkdtemp(prefix=".export-", dir=out))
    (staging / DATA_FILE).write_text(body, encoding="utf-8")
    examples = read_examples([staging / DATA_FILE], taxonomy)  # the format train reads, checked
    content_hash = data_hash(examples)
    version = f"{datetime.now(UTC).strftime('%Y%m%d-%H%M%S')}-{content_hash[:8]}"
    ledger_after = {**ledger, **splits}
    ledger_text = json.dumps({"clusters": dict(sorted(ledger_after.items()))}, indent=1) + "\n"
    manifest = manifest_for(
        version, records, content_hash, since=since.isoformat() if since else None, skipped=skipped,
        split_ledger_sha256=hashlib.sha256(ledger_text.encode()).hexdigest(),
    )
    (staging / MANIFEST).write_text(json.dumps(manifest, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    dest = out / version
    if dest.exists():
        dest = out / f"{version}-{len(list(out.iterdir()))}"
        manifest["version"] = dest.name
        (staging / MANIFEST).write_text(json.dumps(manifest, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    staging.rename(dest)
    _write_atomic(out / LEDGER, ledger_text)
    return ExportResult(path=dest, version=dest.name, manifest=manifest)


def latest_export(out: Path) -> Path | None:
    """The newest dataset version under ``out`` (by name, which starts with its time)."""
    if not out.is_dir():
        return None
    versions = sorted(p for p in out.iterdir() if (p / MANIFEST).is_file() and not p.name.startswith("."))
    return versions[-1] if versions else None
