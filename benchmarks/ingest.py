"""Bulk ingest benchmark: items/s into the store of record plus the search index, per backend.

For each backend it times, on the same synthetic ru/kk/en items (20,000 by default):

- **saqshy**: the full path: ``ingest_items`` (validation, canonical URL, SHA-256, upsert, outbox
  row, one transaction per batch) then ``drain_outbox`` (documents rebuilt from SQL, bulk into
  the index, outbox rows deleted);
- **floor**: what the engines themselves can do with the same data: a raw DBAPI ``executemany``
  INSERT of the same rows into the same table, and a raw write of the same documents into the
  index (``elasticsearch.helpers.bulk``; for FTS5 an ``executemany`` INSERT into a plain FTS5
  table with the adapter's tokenizer, which stores the text it indexes as FTS5 does by default).

and prints items/s with the ratio floor_time / saqshy_time (target: at least 0.7).

Backends: ``sqlite`` (SQLite + FTS5, always) and ``postgres`` (PostgreSQL + Elasticsearch, when
reachable at SAQSHY_TEST_DATABASE_URL / SAQSHY_TEST_ELASTICSEARCH_URL). The PostgreSQL run
empties that database's schema, like the test suite does.

    .venv/bin/python -m benchmarks.ingest [--items 20000] [--batch 500] [--repeat 1]
                                         [--backends sqlite,postgres] [--json out.json]

With ``--repeat N`` each stage keeps its fastest run, which filters out other load on the machine.

The process's collector is tuned as in the crawl process, which runs this ingest in production
(``saqshy.gc_tuning.tune_gc``, as benchmarks/crawl.py and benchmarks/queue.py do), once the
synthetic items and documents exist: with CPython's defaults, each full collection during a
measurement rescanned the benchmark's own 40,000 items and documents (~0.1 s of the ~1 s a
20,000-item ingest takes, charged to whichever stage allocated most when it struck).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from elasticsearch import helpers
from sqlalchemy import Engine, text

from saqshy.db.migrate import upgrade
from saqshy.db.models import Base
from saqshy.db.session import make_engine, make_session_factory, session_scope
from saqshy.gc_tuning import tune_gc
from saqshy.search import index_in_store
from saqshy.search.base import SearchDocument, SearchEngine
from saqshy.search.elastic import ElasticsearchEngine
from saqshy.search.indexer import drain_outbox, pending_count
from saqshy.search.sqlite_fts import TOKENIZER, SqliteFtsEngine
from saqshy.services.items import ingest_items, sha256_hex
from saqshy.settings import Settings

_VOCABULARY = {
    "ru": (
        "продаю закладки доставка пишите личку город быстро недорого гарантия качество работа "
        "деньги заработок кредит без проверки документы паспорт права купить срочно канал новости "
        "алматы астана ёлка подарок"
    ),
    "kk": (
        "жаңа жұмыс ұсынысы күніне мың теңге тәжірибе қажет емес әкімдік ғимараты үй өнер іс "
        "қала хабарлама жеткізу тегін ақша несие құжат сатамын шұғыл арна жаңалықтар"
    ),
    "en": (
        "police warn residents about new phone scam targeting pensioners sale delivery fast cheap "
        "guaranteed quality work money loan without checks documents passport buy urgent channel news"
    ),
}
WORDS = {language: words.split() for language, words in _VOCABULARY.items()}


def synthetic_items(n: int, seed: int = 7) -> list[dict[str, Any]]:
    rng = random.Random(seed)
    t0 = datetime(2026, 1, 1, tzinfo=UTC)
    items = []
    for i in range(n):
        language = ("ru", "kk", "en")[i % 3]
        words = WORDS[language]
        body = " ".join(rng.choice(words) for _ in range(rng.randint(40, 160)))
        items.append(
            {
                "url": f"https://bench.test/{language}/{i}?utm_source=x",
                "canonical_url": f"https://bench.test/{language}/{i}",
                "language": language,
                "title": " ".join(rng.choice(words) for _ in range(6)),
                "text": f"{body} #{i}",
                "fetched_at": t0 + timedelta(seconds=i),
            }
        )
    return items


def batches(seq: Sequence[Any], size: int) -> Iterator[Sequence[Any]]:
    for start in range(0, len(seq), size):
        yield seq[start : start + size]


def raw_rows(items: Sequence[dict[str, Any]], sqlite: bool) -> list[tuple[Any, ...]]:
    """The same rows ingest_items writes, prepared in advance (the floor does no work of ours)."""
    now = datetime.now(UTC)
    stamp: Callable[[datetime], Any] = (lambda d: d.strftime("%Y-%m-%d %H:%M:%S.%f")) if sqlite else (lambda d: d)
    rows = []
    for item in items:
        digest = sha256_hex(item["text"])
        rows.append(
            (
                item["url"],
                item["canonical_url"],
                item["language"],
                item["title"],
                item["text"],
                stamp(item["fetched_at"]),
                False,
                digest,
                digest,
                "{}",
                1,
                0,
                stamp(now),
                stamp(now),
            )
        )
    return rows


INSERT_SQL = (
    "INSERT INTO content_items (url, canonical_url, language, title, text, fetched_at, is_binary, sha256, "
    "text_sha256, extra, fetch_count, text_changed_count, created_at, updated_at) VALUES ({})"
)


def documents(items: Sequence[dict[str, Any]]) -> list[SearchDocument]:
    return [
        SearchDocument(
            item_id=i,
            url=item["url"],
            language=item["language"],
            title=item["title"],
            text=item["text"],
            fetched_at=item["fetched_at"],
        )
        for i, item in enumerate(items, start=1)
    ]


@dataclass
class Stage:
    """One measurement: wall-clock seconds, and CPU seconds of this process (all its threads;
    not the PostgreSQL or Elasticsearch servers' own CPU)."""

    wall: float
    cpu: float


class Stopwatch:
    def __init__(self) -> None:
        self.wall = time.perf_counter()
        self.cpu = time.process_time()

    def stop(self) -> Stage:
        return Stage(time.perf_counter() - self.wall, time.process_time() - self.cpu)


@dataclass
class Timing:
    sql: float
    index: float
    sql_cpu: float = 0.0
    index_cpu: float = 0.0

    @classmethod
    def of(cls, sql: Stage, index: Stage) -> Timing:
        return cls(sql=sql.wall, index=index.wall, sql_cpu=sql.cpu, index_cpu=index.cpu)

    @property
    def total(self) -> float:
        return self.sql + self.index

    @property
    def total_cpu(self) -> float:
        return self.sql_cpu + self.index_cpu


def reset_schema(engine: Engine) -> None:
    if engine.dialect.name == "postgresql":
        with engine.begin() as conn:
            conn.execute(text("DROP SCHEMA public CASCADE"))
            conn.execute(text("CREATE SCHEMA public"))
        upgrade(engine)
    else:
        upgrade(engine)


def truncate(engine: Engine) -> None:
    names = [t.name for t in Base.metadata.sorted_tables]
    with engine.begin() as conn:
        if engine.dialect.name == "postgresql":
            conn.execute(text(f"TRUNCATE {', '.join(names)} RESTART IDENTITY CASCADE"))
        else:
            for name in reversed(names):
                conn.execute(text(f"DELETE FROM {name}"))


def run_saqshy(
    engine: Engine, search: SearchEngine, settings: Settings, items: list[dict[str, Any]], batch: int
) -> Timing:
    sessions = make_session_factory(engine)
    watch = Stopwatch()
    for chunk in batches(items, batch):
        with session_scope(sessions) as session:
            ingest_items(session, chunk, settings)
    sql = watch.stop()
    watch = Stopwatch()
    report = drain_outbox(sessions, search, batch_size=settings.index_batch_size)
    search.refresh()
    index = watch.stop()
    # On SQLite with its embedded index, new items were indexed in their own transaction and the
    # drain finds nothing to do; with Elasticsearch the drain indexes them all.
    assert report.failed == 0 and pending_count(sessions) == 0, report
    assert search.count() == len(items), search.count()
    return Timing.of(sql, index)


def raw_sql(engine: Engine, items: list[dict[str, Any]], batch: int) -> Stage:
    sqlite = engine.dialect.name == "sqlite"
    rows = raw_rows(items, sqlite)
    sql = INSERT_SQL.format(", ".join(["?" if sqlite else "%s"] * len(rows[0])))
    raw = engine.raw_connection()
    try:
        watch = Stopwatch()
        cursor = raw.cursor()
        for chunk in batches(rows, batch):
            if sqlite:
                cursor.execute("BEGIN")
            cursor.executemany(sql, chunk)
            raw.commit()
        elapsed = watch.stop()
    finally:
        raw.close()
    return elapsed


FLOOR_FTS = "floor_fts"


def raw_fts(fts: SqliteFtsEngine, docs: list[SearchDocument], batch: int) -> Stage:
    # A plain FTS5 table with the adapter's tokenizer: it stores the text it indexes, as FTS5 does
    # by default. (The adapter's own table is external-content and reads new items' text from
    # content_items; raw inserts into it would skip storing the text, which is not the floor.)
    with fts.engine.begin() as conn:
        conn.exec_driver_sql(f"DROP TABLE IF EXISTS {FLOOR_FTS}")
        conn.exec_driver_sql(f"CREATE VIRTUAL TABLE {FLOOR_FTS} USING fts5(title, body, tokenize = '{TOKENIZER}')")
    raw = fts.engine.raw_connection()
    try:
        watch = Stopwatch()
        cursor = raw.cursor()
        for chunk in batches(docs, batch):
            cursor.execute("BEGIN")
            cursor.executemany(
                f"INSERT INTO {FLOOR_FTS} (rowid, title, body) VALUES (?, ?, ?)",
                [(d.item_id, d.title, d.text) for d in chunk],
            )
            raw.commit()
        elapsed = watch.stop()
    finally:
        raw.close()
    return elapsed


def raw_bulk(es: ElasticsearchEngine, docs: list[SearchDocument], batch: int) -> Stage:
    es.reset_index()
    # The bare write: documents already serialised, no SQL, no outbox, default helper settings.
    sources = [es._source(d) for d in docs]
    watch = Stopwatch()
    helpers.bulk(
        es.client,
        ({"_index": es.index, "_id": str(s["item_id"]), "_source": s} for s in sources),
        chunk_size=batch,
    )
    es.refresh()
    elapsed = watch.stop()
    assert es.count() == len(docs)
    return elapsed


@dataclass
class Row:
    backend: str
    saqshy: Timing
    floor: Timing
    # Saqshy writes the index in the items' own transaction (SQLite with its embedded FTS5):
    # its "SQL" stage includes the index, so only the SQL + index total compares with the floor.
    combined: bool = False


def best(timings: list[Timing]) -> Timing:
    """The fastest of the repetitions per stage: the least disturbed by other work on the machine."""
    return Timing(
        sql=min(t.sql for t in timings),
        index=min(t.index for t in timings),
        sql_cpu=min(t.sql_cpu for t in timings),
        index_cpu=min(t.index_cpu for t in timings),
    )


def sqlite_floor(
    settings: Settings, path: Path, items: list[dict[str, Any]], docs: list[SearchDocument], batch: int
) -> Timing:
    floor_engine = make_engine(settings, url=f"sqlite:///{path}")
    try:
        reset_schema(floor_engine)
        floor_sql = raw_sql(floor_engine, items, batch)
        return Timing.of(floor_sql, raw_fts(SqliteFtsEngine(floor_engine), docs, batch))
    finally:
        floor_engine.dispose()


def bench_sqlite(items: list[dict[str, Any]], batch: int, workdir: Path, repeat: int) -> Row:
    floors: list[Timing] = []
    runs: list[Timing] = []
    docs = documents(items)
    tune_gc()
    combined = False
    for n in range(repeat):
        run_dir = workdir / f"sqlite-{n}"
        settings = Settings(_env_file=None, var_dir=run_dir, index_batch_size=batch)
        # Alternate which goes first, so neither always gets the cooler (or warmer) machine.
        for first in (True, False):
            if first == (n % 2 == 0):
                floors.append(sqlite_floor(settings, run_dir / "floor.sqlite3", items, docs, batch))
            else:
                engine = make_engine(settings)
                reset_schema(engine)
                combined = index_in_store(settings, engine)
                search = SqliteFtsEngine(engine)
                search.reset_index()
                runs.append(run_saqshy(engine, search, settings, items, batch))
                engine.dispose()
    return Row("SQLite + FTS5", best(runs), best(floors), combined=combined)


def bench_postgres(items: list[dict[str, Any]], batch: int, workdir: Path, repeat: int) -> Row | str:
    db_url = os.environ.get("SAQSHY_TEST_DATABASE_URL", "postgresql+psycopg://saqshy:saqshy@127.0.0.1:5432/saqshy_test")
    es_url = os.environ.get("SAQSHY_TEST_ELASTICSEARCH_URL", "http://127.0.0.1:9200")
    settings = Settings(
        _env_file=None, var_dir=workdir / "pg", database_url=db_url, elasticsearch_url=es_url, index_batch_size=batch
    )
    engine = make_engine(settings)
    try:
        with engine.connect():
            pass
    except Exception as exc:
        return f"PostgreSQL unreachable at {db_url}: {type(exc).__name__}"
    index = f"saqshy-bench-{uuid.uuid4().hex[:8]}"
    es = ElasticsearchEngine(es_url, index, chunk_size=batch)
    if not es.ping():
        return f"Elasticsearch unreachable at {es_url}"
    floors: list[Timing] = []
    runs: list[Timing] = []
    docs = documents(items)
    tune_gc()
    try:
        reset_schema(engine)
        # Warm-up: the JVM compiles its indexing path on the first thousands of documents, which
        # would otherwise be charged to whichever measurement happens to run first.
        raw_bulk(es, docs[: min(len(docs), 5_000)], batch)
        for n in range(repeat):
            for first in (True, False):
                truncate(engine)
                if first == (n % 2 == 0):
                    floor_sql = raw_sql(engine, items, batch)
                    floors.append(Timing.of(floor_sql, raw_bulk(es, docs, batch)))
                else:
                    es.reset_index()
                    runs.append(run_saqshy(engine, es, settings, items, batch))
    finally:
        es.delete_index()
        es.close()
        engine.dispose()
    return Row("PostgreSQL + Elasticsearch", best(runs), best(floors))


def report(rows: list[Row], n: int) -> None:
    print(f"\nBulk ingest of {n:,} items (items/s; ratio = floor time / Saqshy time, target >= 0.70)")
    print("cpu ratio: the same with this process's CPU seconds (not the database's or the JVM's)\n")
    header = f"{'backend':<28}{'stage':<14}{'saqshy':>10}{'floor':>10}{'ratio':>8}{'cpu ratio':>11}"
    print(header)
    print("-" * len(header))
    for row in rows:
        mine, floor = row.saqshy, row.floor
        for stage, wall, floor_wall, cpu, floor_cpu in (
            ("SQL", mine.sql, floor.sql, mine.sql_cpu, floor.sql_cpu),
            ("index", mine.index, floor.index, mine.index_cpu, floor.index_cpu),
            ("SQL + index", mine.total, floor.total, mine.total_cpu, floor.total_cpu),
        ):
            if row.combined and stage != "SQL + index":
                # Saqshy's index writes are inside its SQL stage: a per-stage ratio means nothing.
                print(f"{row.backend:<28}{stage:<14}{'-':>10}{n / floor_wall:>10,.0f}{'-':>8}{'-':>11}")
                continue
            cpu_ratio = f"{floor_cpu / cpu:>11.2f}" if cpu > 0 else f"{'-':>11}"
            print(
                f"{row.backend:<28}{stage:<14}{n / wall:>10,.0f}{n / floor_wall:>10,.0f}"
                f"{floor_wall / wall:>8.2f}{cpu_ratio}"
            )
        if row.combined:
            print(
                f"{'':<28}(Saqshy writes new items' FTS5 documents in the items' own transaction: "
                f"{mine.sql:.2f} s; the outbox drain after it found nothing to do: {mine.index:.2f} s)"
            )
    load = ", ".join(f"{value:.2f}" for value in os.getloadavg())
    print(f"\nload average (1, 5, 15 min) at the end: {load}; CPUs: {os.cpu_count()}\n")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--items", type=int, default=20_000)
    parser.add_argument("--batch", type=int, default=500)
    parser.add_argument("--backends", default="sqlite,postgres")
    parser.add_argument("--repeat", type=int, default=1, help="run each measurement N times, keep the fastest")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args(argv)

    items = synthetic_items(args.items)
    rows: list[Row] = []
    with tempfile.TemporaryDirectory(prefix="saqshy-bench-") as tmp:
        workdir = Path(tmp)
        for backend in args.backends.split(","):
            print(f"benchmarking {backend} …", file=sys.stderr)
            if backend == "sqlite":
                rows.append(bench_sqlite(items, args.batch, workdir, args.repeat))
            elif backend == "postgres":
                result = bench_postgres(items, args.batch, workdir, args.repeat)
                if isinstance(result, str):
                    print(f"skipping PostgreSQL + Elasticsearch: {result}", file=sys.stderr)
                else:
                    rows.append(result)
            else:
                parser.error(f"unknown backend {backend!r}")
    report(rows, args.items)
    if args.json:
        args.json.write_text(
            json.dumps(
                [
                    {
                        "backend": r.backend,
                        "items": args.items,
                        "saqshy_s": {"sql": r.saqshy.sql, "index": r.saqshy.index},
                        "floor_s": {"sql": r.floor.sql, "index": r.floor.index},
                        "saqshy_cpu_s": {"sql": r.saqshy.sql_cpu, "index": r.saqshy.index_cpu},
                        "floor_cpu_s": {"sql": r.floor.sql_cpu, "index": r.floor.index_cpu},
                        "index_in_sql_transaction": r.combined,
                        "ratio": r.floor.total / r.saqshy.total,
                        "cpu_ratio": r.floor.total_cpu / r.saqshy.total_cpu,
                        "load_average": os.getloadavg(),
                    }
                    for r in rows
                ],
                indent=2,
            )
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
