"""A demo installation: one account per role and sample items from the seed data set.

``saqshy demo`` is idempotent: accounts that exist are kept, items are upserted by URL. Items are
handed to the scoring job; the scheduler then turns scores above threshold into review tasks.
"""

from __future__ import annotations

import json
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import select

from saqshy.context import Context
from saqshy.db.models import Role, Source, SourceKind, User
from saqshy.db.session import session_scope
from saqshy.services.items import ingest_items
from saqshy.settings import PROJECT_ROOT

SEED_DIR = PROJECT_ROOT / "data" / "seed"
DEMO_DOMAIN = "demo.saqshy.example"
ACCOUNTS = [
    ("admin", Role.ADMIN),
    ("moderator", Role.MODERATOR),
    ("volunteer1", Role.VOLUNTEER),
    ("volunteer2", Role.VOLUNTEER),
    ("police", Role.POLICE),
    ("ml", Role.ML_ENGINEER),
]


@dataclass
class DemoReport:
    accounts_created: list[str] = field(default_factory=list)
    items: int = 0
    scoring_jobs: list[str] = field(default_factory=list)


def _seed_examples(seed_dir: Path, limit: int) -> list[dict[str, str]]:
    examples: list[dict[str, str]] = []
    for name in ("positives.jsonl", "hard_negatives.jsonl", "negatives.jsonl", "evasions.jsonl"):
        path = seed_dir / name
        if not path.exists():
            continue
        with path.open(encoding="utf-8") as lines:
            examples.extend(json.loads(line) for line in lines if line.strip())
    # Interleave the files so a small demo still shows every kind of item. A stable hash (not
    # ``hash``, salted per process): a second ``saqshy demo`` picks the same items, so adds none.
    examples.sort(key=lambda e: (zlib.crc32(e["id"].encode()) % 7, e["id"]))
    return examples[:limit]


def seed_demo(
    ctx: Context, *, password: str, items: int = 120, progress: Callable[[str], None] = print
) -> DemoReport:
    from triage_api.services.users import create_user

    report = DemoReport()
    with session_scope(ctx.sessions) as session:
        for name, role in ACCOUNTS:
            email = f"{name}@{DEMO_DOMAIN}"
            if session.scalar(select(User.id).where(User.email == email)) is None:
                create_user(session, ctx.settings, email=email, password=password, role=role, display_name=name)
                report.accounts_created.append(email)
        source = session.scalar(select(Source).where(Source.name == "demo"))
        if source is None:
            source = Source(name="demo", url=f"https://{DEMO_DOMAIN}/", kind=SourceKind.SITE, enabled=False)
            session.add(source)
            session.flush()
        source_id = source.id
    progress(f"accounts: {len(ACCOUNTS)} ({len(report.accounts_created)} new)")

    examples = _seed_examples(SEED_DIR, items)
    rows = [
        {
            "url": f"https://{DEMO_DOMAIN}/posts/{example['id']}",
            "source_id": source_id,
            "language": example.get("lang") if example.get("lang") in ("ru", "kk", "en") else "other",
            "title": None,
            "text": example["text"],
            "extra": {"demo": True},
        }
        for example in examples
    ]
    with session_scope(ctx.sessions) as session:
        results = ingest_items(session, rows, ctx.settings)
    report.items = len(results)
    progress(f"items: {report.items} sample items stored")
    ids = [r.item_id for r in results]
    for start in range(0, len(ids), 64):
        batch = ids[start : start + 64]
        report.scoring_jobs.append(ctx.jobs.enqueue("score_items", {"item_ids": batch}))
    progress(f"scoring: {len(report.scoring_jobs)} jobs queued")
    return report
