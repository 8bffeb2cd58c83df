"""Claim + vote round trips under 50 concurrent volunteers, against a bare endpoint in the same run.

    .venv/bin/python benchmarks/queue.py                       # SQLite and PostgreSQL
    .venv/bin/python benchmarks/queue.py --engine postgresql --volunteers 50 --seconds 20

For each engine the script seeds a fresh store (tasks, volunteers, tokens), then runs two servers
in turn on loopback, each a separate uvicorn process on the same database:

* the triage API: each simulated volunteer loops ``POST /tasks/claim`` + ``POST /tasks/{id}/votes``
  over real HTTP; a round trip is the pair;
* a bare FastAPI app with one sync endpoint doing one indexed ``SELECT`` on ``review_tasks`` (the
  same engine set-up, the same thread pool): the ceiling of "FastAPI + one query" on this machine.

It reports round trips per second, p50/p99 latency of a round trip and of each request, and the
ratio to the bare endpoint's rate. Targets (issue 5): p99 < 50 ms at 50 volunteers on PostgreSQL,
and at least 0.5 of the bare endpoint's rate.
"""

from __future__ import annotations

import sys
from pathlib import Path

# Run as a script, this file's folder comes first on sys.path, and this module's name would hide
# the standard library's ``queue`` (which asyncio and anyio import): take the folder off the path.
HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != HERE]
sys.path.insert(0, str(ROOT))

import argparse  # noqa: E402
import asyncio  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402
import random  # noqa: E402
import socket  # noqa: E402
import subprocess  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from dataclasses import dataclass, field  # noqa: E402

DEFAULT_PG = os.environ.get(
    "SAQSHY_BENCH_DATABASE_URL", "postgresql+psycopg://saqshy:saqshy@127.0.0.1:5432/saqshy_bench"
)


# --- Servers (run as subprocesses of this script) ---------------------------------------------------


def _settings(db_url: str, var_dir: str):  # type: ignore[no-untyped-def]
    from saqshy.settings import Settings

    return Settings(_env_file=None, database_url=db_url, var_dir=Path(var_dir),  # type: ignore[call-arg]
                    elasticsearch_url=None, redis_url=None, triage_exploration_share=0.05,
                    triage_gold_share=0.0)


def _bare_app(db_url: str, var_dir: str):  # type: ignore[no-untyped-def]
    from fastapi import FastAPI
    from sqlalchemy import text

    from saqshy.db.session import make_engine, make_session_factory

    engine = make_engine(_settings(db_url, var_dir))
    sessions = make_session_factory(engine)
    app = FastAPI()

    @app.get("/bare/{task_id}")
    def bare(task_id: int) -> dict[str, object]:
        with sessions() as session:
            row = session.execute(
                text("SELECT id, status, priority FROM review_tasks WHERE id = :id"), {"id": task_id}
            ).first()
        return {"id": row[0], "status": row[1], "priority": row[2]} if row else {"id": None}

    return app


def serve(kind: str, db_url: str, var_dir: str, port: int) -> None:
    import uvicorn

    if kind == "bare":
        app = _bare_app(db_url, var_dir)
    else:
        from saqshy.context import build_context
        from triage_api.main import create_app

        settings = _settings(db_url, var_dir)
        app = create_app(settings, context=build_context(settings))
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning", access_log=False)


# --- Seeding ------------------------------------------------------------------------------------------


def _reset_postgres(url: str) -> None:
    import psycopg
    from sqlalchemy.engine import make_url

    parsed = make_url(url)
    admin = parsed.set(database="postgres").render_as_string(hide_password=False).replace("+psycopg", "")
    with psycopg.connect(admin, autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (parsed.database,)).fetchone()
        if not exists:
            conn.execute(f'CREATE DATABASE "{parsed.database}"')
    plain = parsed.render_as_string(hide_password=False).replace("+psycopg", "")
    with psycopg.connect(plain, autocommit=True) as conn:
        conn.execute("DROP SCHEMA public CASCADE")
        conn.execute("CREATE SCHEMA public")


def seed(db_url: str, var_dir: str, tasks: int, volunteers: int) -> tuple[list[str], int]:
    """A fresh store with ``tasks`` open tasks and ``volunteers`` volunteers; returns their tokens."""
    from sqlalchemy import func, insert, select

    from saqshy.context import build_context
    from saqshy.db.models import ContentItem, ReviewTask, Role, TaskStatus, utcnow
    from triage_api.services import auth, users

    settings = _settings(db_url, var_dir).model_copy(update={
        "triage_argon2_time_cost": 1, "triage_argon2_memory_kib": 1024, "triage_argon2_parallelism": 1})
    ctx = build_context(settings)
    rng = random.Random(1)
    categories = ["drugs", "fraud", "gambling", "weapons"]
    now = utcnow()
    try:
        with ctx.sessions.begin() as session:
            for start in range(0, tasks, 5000):
                session.execute(insert(ContentItem), [
                    {"url": f"https://bench.test/{i}", "canonical_url": f"https://bench.test/{i}",
                     "text": f"benchmark item {i} " * 20, "language": "ru", "sha256": f"{i:064x}", "extra": {}}
                    for i in range(start, min(tasks, start + 5000))
                ])
            ids = [i for (i,) in session.execute(select(ContentItem.id).order_by(ContentItem.id))]
            rows = []
            for item_id in ids:
                priority = rng.random() * 4
                rows.append({"item_id": item_id, "category": rng.choice(categories), "score": priority / 4,
                             "priority": priority, "rank": priority, "status": TaskStatus.OPEN,
                             "is_exploration": rng.random() < 0.05, "is_gold": False, "created_at": now,
                             "version": 0, "vote_count": 0, "duplicate_count": 0})
            for start in range(0, len(rows), 5000):
                session.execute(insert(ReviewTask), rows[start:start + 5000])
            tokens = []
            for n in range(volunteers):
                user = users.create_user(session, settings, email=f"volunteer{n}@bench.test",
                                         password="benchmark password", role=Role.VOLUNTEER)
                tokens.append(auth.issue_token(session, settings, user).token)
            max_id = session.execute(select(func.max(ReviewTask.id))).scalar_one()
        return tokens, int(max_id)
    finally:
        ctx.close()


# --- Load -----------------------------------------------------------------------------------------------


@dataclass
class Run:
    label: str
    operations: int = 0
    seconds: float = 0.0
    errors: int = 0
    latencies_ms: list[float] = field(default_factory=list, repr=False)
    claim_ms: list[float] = field(default_factory=list, repr=False)
    vote_ms: list[float] = field(default_factory=list, repr=False)
    error_samples: list[str] = field(default_factory=list)

    @property
    def rate(self) -> float:
        return self.operations / self.seconds if self.seconds else 0.0

    def pct(self, values: list[float], q: float) -> float:
        if not values:
            return float("nan")
        ordered = sorted(values)
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))]

    def summary(self) -> dict[str, object]:
        out: dict[str, object] = {
            "label": self.label, "operations": self.operations, "seconds": round(self.seconds, 2),
            "per_second": round(self.rate, 1), "errors": self.errors,
            "p50_ms": round(self.pct(self.latencies_ms, 0.50), 2),
            "p99_ms": round(self.pct(self.latencies_ms, 0.99), 2),
        }
        if self.claim_ms:
            out.update({
                "claim_p50_ms": round(self.pct(self.claim_ms, 0.5), 2),
                "claim_p99_ms": round(self.pct(self.claim_ms, 0.99), 2),
                "vote_p50_ms": round(self.pct(self.vote_ms, 0.5), 2),
                "vote_p99_ms": round(self.pct(self.vote_ms, 0.99), 2),
            })
        if self.error_samples:
            out["error_samples"] = self.error_samples[:3]
        return out


def _wait_for_port(port: int, process: subprocess.Popen[bytes], timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server exited with {process.returncode}")
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.1)
    raise RuntimeError("server did not start")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def _drive(port: int, workers: int, warmup: float, seconds: float, step) -> Run:  # type: ignore[no-untyped-def]
    import httpx

    run = Run(label="")
    limits = httpx.Limits(max_connections=workers, max_keepalive_connections=workers)
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", limits=limits, timeout=60) as client:
        start = time.perf_counter()
        measure_from = start + warmup
        stop = measure_from + seconds

        async def worker(index: int) -> None:
            rng = random.Random(index)
            while True:
                now = time.perf_counter()
                if now >= stop:
                    return
                t0 = time.perf_counter()
                ok, parts = await step(client, index, rng)
                t1 = time.perf_counter()
                if t0 >= measure_from:
                    if ok:
                        run.operations += 1
                        run.latencies_ms.append((t1 - t0) * 1000)
                        if parts:
                            run.claim_ms.append(parts[0])
                            run.vote_ms.append(parts[1])
                    else:
                        run.errors += 1
                        if len(run.error_samples) < 5:
                            run.error_samples.append(str(parts)[:300])
                if not ok and parts == "empty":
                    return

        await asyncio.gather(*(worker(i) for i in range(workers)))
        run.seconds = min(time.perf_counter(), stop) - measure_from
    return run


def bench_engine(engine: str, args: argparse.Namespace) -> dict[str, object]:
    var_dir = tempfile.mkdtemp(prefix=f"saqshy-bench-{engine}-")
    if engine == "sqlite":
        db_url = f"sqlite:///{Path(var_dir) / 'bench.sqlite3'}"
    else:
        db_url = args.pg_url
        _reset_postgres(db_url)
    t = time.perf_counter()
    tokens, max_id = seed(db_url, var_dir, args.tasks, args.volunteers)
    print(f"[{engine}] seeded {args.tasks} tasks, {args.volunteers} volunteers in {time.perf_counter() - t:.1f}s",
          file=sys.stderr)
    results: dict[str, object] = {"engine": engine, "volunteers": args.volunteers, "tasks": args.tasks}

    def start_server(kind: str) -> tuple[subprocess.Popen[bytes], int]:
        port = _free_port()
        process = subprocess.Popen(
            [sys.executable, __file__, "_serve", kind, db_url, var_dir, str(port)],
            cwd=ROOT, stdout=subprocess.DEVNULL, stderr=None,
        )
        _wait_for_port(port, process)
        return process, port

    async def bare_step(client, index, rng):  # type: ignore[no-untyped-def]
        response = await client.get(f"/bare/{rng.randint(1, max_id)}")
        return response.status_code == 200, (None if response.status_code == 200 else response.text)

    async def triage_step(client, index, rng):  # type: ignore[no-untyped-def]
        headers = {"Authorization": f"Bearer {tokens[index]}"}
        t0 = time.perf_counter()
        claimed = await client.post("/tasks/claim", headers=headers)
        t1 = time.perf_counter()
        if claimed.status_code == 204:
            return False, "empty"
        if claimed.status_code != 200:
            return False, f"claim {claimed.status_code} {claimed.text}"
        draw = rng.random()
        if draw < args.illegal_share:
            body = {"verdict": "illegal", "category": claimed.json()["category"] or "drugs"}
        elif draw < args.illegal_share + 0.05:
            body = {"verdict": "unsure"}
        else:
            body = {"verdict": "legal"}
        voted = await client.post(f"/tasks/{claimed.json()['id']}/votes", json=body, headers=headers)
        t2 = time.perf_counter()
        if voted.status_code != 201:
            return False, f"vote {voted.status_code} {voted.text}"
        return True, ((t1 - t0) * 1000, (t2 - t1) * 1000)

    for kind, step in (("bare", bare_step), ("triage", triage_step)):
        process, port = start_server(kind)
        try:
            run = asyncio.run(_drive(port, args.volunteers, args.warmup, args.seconds, step))
        finally:
            process.terminate()
            process.wait(timeout=30)
        run.label = "bare SELECT" if kind == "bare" else "claim+vote"
        results[kind] = run.summary()
        print(f"[{engine}] {run.label}: {json.dumps(run.summary())}", file=sys.stderr)
    bare_rate = float(results["bare"]["per_second"])  # type: ignore[index]
    triage = results["triage"]
    round_trips = float(triage["per_second"])  # type: ignore[index]
    results["ratio_round_trips_to_bare"] = round(round_trips / bare_rate, 3) if bare_rate else None
    results["ratio_requests_to_bare"] = round(2 * round_trips / bare_rate, 3) if bare_rate else None
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--engine", choices=["sqlite", "postgresql", "both"], default="both")
    parser.add_argument("--volunteers", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=15.0, help="measured time per server")
    parser.add_argument("--warmup", type=float, default=3.0)
    parser.add_argument("--tasks", type=int, default=20_000)
    parser.add_argument("--illegal-share", type=float, default=0.02,
                        help="share of 'illegal' votes (two agreeing ones open a case with an evidence bundle)")
    parser.add_argument("--pg-url", default=DEFAULT_PG, help="a database this script may wipe")
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args()
    engines = ["sqlite", "postgresql"] if args.engine == "both" else [args.engine]
    results = [bench_engine(engine, args) for engine in engines]
    print(f"\n{'engine':<11}{'server':<13}{'per s':>9}{'p50 ms':>9}{'p99 ms':>9}{'errors':>8}  ratio to bare")
    for r in results:
        for kind in ("bare", "triage"):
            s = r[kind]
            ratio = "" if kind == "bare" else (f"{r['ratio_round_trips_to_bare']} (round trips), "
                                               f"{r['ratio_requests_to_bare']} (requests)")
            print(f"{r['engine']:<11}{s['label']:<13}{s['per_second']:>9}{s['p50_ms']:>9}{s['p99_ms']:>9}"  # type: ignore[index]
                  f"{s['errors']:>8}  {ratio}")  # type: ignore[index]
        t = r["triage"]
        print(f"{'':<11}  claim p50/p99 {t.get('claim_p50_ms')}/{t.get('claim_p99_ms')} ms, "  # type: ignore[union-attr]
              f"vote p50/p99 {t.get('vote_p50_ms')}/{t.get('vote_p99_ms')} ms")  # type: ignore[union-attr]
    load = os.getloadavg()[0]
    print(f"\nmachine: {os.cpu_count()} CPUs, load average {load:.1f} (a shared machine skews absolute figures)")
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "_serve":
        serve(sys.argv[2], sys.argv[3], sys.argv[4], int(sys.argv[5]))
    else:
        main()
