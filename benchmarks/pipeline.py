"""The whole chain, crawl to open review task, in items per second, against its slowest stage alone.

    .venv/bin/python benchmarks/pipeline.py                         # both set-ups
    .venv/bin/python benchmarks/pipeline.py --setup embedded --pages 300 --rounds 3

Two set-ups, each on a fresh store:

* ``embedded``: the defaults (SQLite, FTS5, the in-process job pool of one ``saqshy worker``);
* ``services``: PostgreSQL + Elasticsearch + Redis (``SAQSHY_TEST_*`` URLs, the services of
  ``scripts/services.sh``) with two ``saqshy worker`` RQ processes; a database, an index and an
  RQ queue of the run's own, dropped at the end.

The site is ``benchmarks/crawl.py``'s generated one (``--pages`` articles), served from memory by
a process of its own; the crawl runs the real crawler (``crawlers.runner.run_crawl``, a child
process) with the politeness delays of ``benchmarks/crawl.py`` off, as the site is on this
machine. The scorer is the production model of ``SAQSHY_MODELS_DIR`` (default ``models/``).

For each set-up, all timed by the wall clock, workers started and idle before the clock starts:

* **chain**: crawl start until every stored item is scored and triaged into an open task (one
  task per near-duplicate cluster);
* **crawl alone**: the crawl on a fresh store, no worker running (its ``score_items`` jobs wait);
* **score alone**: on that store, the workers started on the waiting jobs, until every item has
  a score (their follow-up queue syncs run beside them, as they do in the chain);
* **queue sync alone**: the same scores made untriaged again and their tasks removed, then
  ``queue.sync_tasks`` in this process until every score is triaged.

Rounds (``--rounds``, default 2) alternate whether the chain or the stages go first, so a change in
the machine's load hits both. The result is the median chain items/s over the slowest stage's
median items/s (target: at least 0.7), printed with each round's own ratio, the CPU's flags and
the load average, since the machine may be shared.
"""

# ruff: noqa: E402  (the path is fixed before the imports, see below)
from __future__ import annotations

import sys
from pathlib import Path

# Run as a script, Python puts benchmarks/ first on the path, where other benchmarks' modules
# (queue.py) shadow the standard library: use the repository root instead.
_HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != _HERE]
sys.path.insert(0, str(_HERE.parent))

import argparse
import json
import multiprocessing
import os
import signal
import statistics
import subprocess
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import closing, contextmanager
from dataclasses import dataclass
from typing import Any

from sqlalchemy import create_engine, delete, func, select, text, update
from sqlalchemy.engine import make_url

from benchmarks.crawl import COMMON, make_site, serve
from saqshy.context import Context, build_context
from saqshy.db.models import ContentItem, JobRecord, JobStatus, ReviewTask, Score
from saqshy.db.session import session_scope
from saqshy.settings import PROJECT_ROOT, Settings
from tests.processes import saqshy_env

SAQSHY = [sys.executable, "-c", "from saqshy.cli import run; run()"]
SOURCE = "bench"
TARGET = 0.7
WAIT_S = 900.0


@dataclass
class Store:
    """One fresh store of record (and, with services, its own index and RQ queue)."""

    settings: Settings
    workers: int
    drop: Callable[[], None]


def cpu_flags() -> str:
    try:
        flags = next(line for line in Path("/proc/cpuinfo").read_text().splitlines() if line.startswith("flags"))
    except (OSError, StopIteration):
        return "unknown"
    present = set(flags.split(":", 1)[1].split())
    return ", ".join(f"{flag}={'yes' if flag in present else 'no'}" for flag in ("avx512_vnni", "avx2"))


def load_average() -> str:
    return " ".join(f"{n:.2f}" for n in os.getloadavg())


# --- stores ------------------------------------------------------------------------------


def embedded_store(folder: Path, models_dir: Path) -> Store:
    settings = Settings(
        _env_file=None,
        var_dir=folder, models_dir=models_dir, database_url=None, elasticsearch_url=None, redis_url=None,
        crawler_allowed_networks="127.0.0.1/32",
    )
    return Store(settings=settings, workers=1, drop=lambda: None)


def services_store(folder: Path, models_dir: Path, args: argparse.Namespace) -> Store:
    token = f"bench-pipeline-{uuid.uuid4().hex[:10]}"
    folder.mkdir(parents=True)
    admin_url = make_url(args.database_url).set(drivername="postgresql+psycopg")
    name = f"{admin_url.database or 'saqshy'}_{token.replace('-', '_')}"
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    settings = Settings(
        _env_file=None,
        var_dir=folder, models_dir=models_dir,
        database_url=admin_url.set(database=name).render_as_string(hide_password=False),
        elasticsearch_url=args.elasticsearch_url, elasticsearch_index=token,
        redis_url=args.redis_url, rq_queue=token, crawler_allowed_networks="127.0.0.1/32",
    )

    def drop() -> None:
        import httpx
        from redis import Redis

        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()
        with closing(Redis.from_url(args.redis_url)) as client:
            keys = list(client.scan_iter(match=f"*{token}*", count=1000))
            if keys:
                client.delete(*keys)
        httpx.delete(f"{args.elasticsearch_url}/{token}*", timeout=30, trust_env=False)

    return Store(settings=settings, workers=2, drop=drop)


def worker_env(settings: Settings) -> dict[str, str]:
    return saqshy_env(
        var_dir=settings.var_dir, models_dir=settings.models_dir, database_url=settings.sqlalchemy_url,
        elasticsearch_url=settings.elasticsearch_url, elasticsearch_index=settings.elasticsearch_index,
        redis_url=settings.redis_url, rq_queue=settings.rq_queue,
    )


@contextmanager
def workers(store: Store, log: Path) -> Iterator[None]:
    """``saqshy worker`` processes on the store, up and idle before this yields."""
    processes = []
    with log.open("ab") as out:
        for _ in range(store.workers):
            processes.append(subprocess.Popen(
                [*SAQSHY, "worker", "--poll", "0.5"], cwd=store.settings.var_dir, env=worker_env(store.settings),
                stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
            ))
    try:
        # Up: an RQ worker says it listens; the embedded pool prints its counts after each look.
        marker = "Listening on" if store.settings.redis_url else "queued:"
        deadline = time.monotonic() + 120
        while log.read_text(errors="replace").count(marker) < len(processes):
            if time.monotonic() > deadline or any(p.poll() is not None for p in processes):
                raise RuntimeError(f"workers did not start:\n{log.read_text(errors='replace')[-3000:]}")
            time.sleep(0.1)
        yield
    finally:
        for process in processes:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGKILL)
            process.wait(30)


# --- stages ------------------------------------------------------------------------------


def add_bench_source(ctx: Context, root: str) -> None:
    from saqshy.services.sources import add_source

    with session_scope(ctx.sessions) as session:
        source = add_source(session, root + "/a/0", "site", policy=ctx.settings.address_policy, depth=20, name=SOURCE)
        source.enabled = False


def crawl(settings: Settings) -> int:
    from crawlers.runner import run_crawl

    overrides = {**COMMON, "CONCURRENT_REQUESTS_PER_DOMAIN": 16}
    # With Redis, the frontier and the seen-URL set live there: a key of this crawl's own (named
    # after the run's queue, so the clean-up finds it) keeps a second crawl of the site from
    # finding every URL already seen.
    crawl_key = f"{settings.rq_queue}-{uuid.uuid4().hex[:8]}" if settings.redis_url else None
    summary = run_crawl(settings, [SOURCE], overrides=overrides, crawl_key=crawl_key, timeout=WAIT_S)
    return int(summary.sources[0].counters.get("items/new", 0))


def counts(ctx: Context) -> tuple[int, int, int]:
    """Items, scores, scores not yet triaged."""
    with session_scope(ctx.sessions) as session:
        return (
            int(session.scalar(select(func.count()).select_from(ContentItem)) or 0),
            int(session.scalar(select(func.count()).select_from(Score)) or 0),
            int(session.scalar(select(func.count()).select_from(Score).where(Score.triaged_at.is_(None))) or 0),
        )


def wait_until(ctx: Context, done: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + WAIT_S
    while not done():
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what} did not finish in {WAIT_S:.0f} s")
        with session_scope(ctx.sessions) as session:
            failed = session.scalars(select(JobRecord).where(JobRecord.status == JobStatus.FAILED).limit(1)).first()
            if failed is not None:
                raise RuntimeError(f"job {failed.key} failed: {(failed.last_error or '')[-1500:]}")
        time.sleep(0.1)


def rate(items: int, seconds: float) -> dict[str, float]:
    return {"items": items, "seconds": round(seconds, 2), "items_per_s": round(items / seconds, 2)}


def chain(store: Store, root: str, log: Path) -> dict[str, float]:
    ctx = build_context(store.settings)
    try:
        add_bench_source(ctx, root)
        with workers(store, log):
            started = time.monotonic()
            stored = crawl(store.settings)

            def settled() -> bool:
                items, scores, untriaged = counts(ctx)
                return items == scores and not untriaged

            wait_until(ctx, settled, "the chain")
            elapsed = time.monotonic() - started
        return rate(stored, elapsed)
    finally:
        ctx.close()


def stages(store: Store, root: str, log: Path) -> dict[str, dict[str, float]]:
    ctx = build_context(store.settings)
    try:
        add_bench_source(ctx, root)
        started = time.monotonic()
        stored = crawl(store.settings)
        result = {"crawl": rate(stored, time.monotonic() - started)}

        with workers(store, log):
            started = time.monotonic()
            wait_until(ctx, lambda: counts(ctx)[1] == stored, "scoring")
            result["score"] = rate(stored, time.monotonic() - started)
            wait_until(ctx, lambda: not counts(ctx)[2], "the follow-up syncs")

        with session_scope(ctx.sessions) as session:
            session.execute(delete(ReviewTask))
            session.execute(update(Score).values(triaged_at=None))
        from triage_api.services.queue import sync_tasks_job

        started = time.monotonic()
        while counts(ctx)[2]:
            sync_tasks_job(ctx)
        result["queue_sync"] = rate(stored, time.monotonic() - started)
        return result
    finally:
        ctx.close()


def run_round(name: str, make: Callable[[Path], Store], root: str, folder: Path, chain_first: bool
              ) -> dict[str, Any]:
    """One chain and one set of stages alone, each on a fresh store."""
    result: dict[str, Any] = {}
    folder.mkdir(parents=True)
    for part in ("chain", "stages") if chain_first else ("stages", "chain"):
        print(f"[{name}] {part} ...", flush=True)
        store = make(folder / f"{name}-{part}")
        try:
            run = chain if part == "chain" else stages
            result[part] = run(store, root, folder / f"{name}-{part}-workers.log")
        finally:
            store.drop()
    slowest = min(result["stages"], key=lambda stage: result["stages"][stage]["items_per_s"])
    result["ratio"] = round(result["chain"]["items_per_s"] / result["stages"][slowest]["items_per_s"], 2)
    result["load_average"] = load_average()
    return result


def run_setup(name: str, make: Callable[[Path], Store], root: str, folder: Path, rounds: int) -> dict[str, Any]:
    """``rounds`` rounds, alternating which goes first, so a change in the machine's load hits both."""
    runs = []
    for n in range(rounds):
        runs.append(run_round(name, make, root, folder / f"{name}-round{n}", chain_first=n % 2 == 0))
        print(f"[{name}] round {n + 1}: chain / slowest stage {runs[-1]['ratio']:.2f}, "
              f"load average {runs[-1]['load_average']}", flush=True)
    median = {
        "chain": statistics.median(r["chain"]["items_per_s"] for r in runs),
        **{stage: statistics.median(r["stages"][stage]["items_per_s"] for r in runs) for stage in runs[0]["stages"]},
    }
    slowest = min((stage for stage in median if stage != "chain"), key=lambda stage: median[stage])
    return {"rounds": runs, "median_items_per_s": median, "slowest": slowest,
            "ratio": round(median["chain"] / median[slowest], 2)}


def report(name: str, result: dict[str, Any]) -> None:
    median = result["median_items_per_s"]
    print(f"\n{name}: median items/s over {len(result['rounds'])} rounds "
          f"({result['rounds'][0]['chain']['items']} items per crawl)")
    for part, value in median.items():
        print(f"  {part + (' (whole)' if part == 'chain' else ' alone'):<17} {value:8.1f} items/s")
    verdict = "meets" if result["ratio"] >= TARGET else "below"
    print(f"  chain / slowest stage ({result['slowest']}) = {result['ratio']:.2f}  ({verdict} the {TARGET} target); "
          "per round: " + ", ".join(f"{r['ratio']:.2f}" for r in result["rounds"]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--setup", choices=("embedded", "services", "both"), default="both")
    parser.add_argument("--pages", type=int, default=120)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--models-dir", type=Path,
                        default=Path(os.environ.get("SAQSHY_MODELS_DIR") or PROJECT_ROOT / "models"))
    parser.add_argument("--database-url", default=os.environ.get(
        "SAQSHY_TEST_DATABASE_URL", "postgresql+psycopg://saqshy:saqshy@127.0.0.1:5432/saqshy_test"))
    parser.add_argument("--elasticsearch-url",
                        default=os.environ.get("SAQSHY_TEST_ELASTICSEARCH_URL", "http://127.0.0.1:9200"))
    parser.add_argument("--redis-url", default=os.environ.get("SAQSHY_TEST_REDIS_URL", "redis://127.0.0.1:6379/0"))
    parser.add_argument("--json", type=Path, help="Also write the figures here.")
    args = parser.parse_args()

    print(f"CPU: {cpu_flags()}, {os.cpu_count()} cores; load average before: {load_average()}", flush=True)
    receiver, sender = multiprocessing.Pipe(duplex=False)
    site = multiprocessing.Process(target=serve, args=(make_site(args.pages), sender), daemon=True)
    site.start()
    root = f"http://127.0.0.1:{receiver.recv()}"
    # A timeout's SIGTERM unwinds like Ctrl-C, so the worker processes and the stores go too.
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    setups: dict[str, Callable[[Path], Store]] = {
        "embedded": lambda folder: embedded_store(folder, args.models_dir),
        "services": lambda folder: services_store(folder, args.models_dir, args),
    }
    chosen = list(setups) if args.setup == "both" else [args.setup]
    results: dict[str, Any] = {"cpu_flags": cpu_flags(), "pages": args.pages}
    try:
        with tempfile.TemporaryDirectory(prefix="saqshy-bench-pipeline-") as tmp:
            for name in chosen:
                results[name] = run_setup(name, setups[name], root, Path(tmp), args.rounds)
                report(name, results[name])
    finally:
        site.terminate()
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
