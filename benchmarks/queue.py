"""Claim + vote under 50 volunteers, and the maximum rate, against a bare endpoint in the same run.

    .venv/bin/python benchmarks/queue.py                       # SQLite and PostgreSQL
    .venv/bin/python benchmarks/queue.py --engine postgresql --volunteers 50 --seconds 20

For each engine the script seeds a fresh store (tasks, volunteers, tokens), then runs two servers
in turn on loopback, each a separate uvicorn process on the same database:

* the triage API: a volunteer's round trip is ``POST /tasks/claim`` + ``POST /tasks/{id}/votes``;
* a bare FastAPI app with one sync endpoint doing one indexed ``SELECT`` on ``review_tasks`` (the
  same engine set-up, the same uvicorn and thread pool): the ceiling of "FastAPI + one query"
  here. Its "round trip" is two GETs, so both servers see the same request pattern.

Each server is measured twice (the load comes from separate client processes, so the load
generator never shares the server's event loop, and its CPU cost is measured and printed):

* **50 volunteers** (latency). People read an item before they judge it: each simulated volunteer
  claims, *thinks* for a time drawn from an exponential distribution (mean ``--think-mean``,
  default 2 s), votes, and claims the next one at once (each starts at a random point of its first
  think time, so they are not in lockstep). 2 s is a deliberately harsh assumption:
  a person reading a post and its context takes 10 to 60 s, so this offers the server 5 to 30 times
  the load 50 real volunteers would (50 / 2 s = 25 round trips/s, 50 requests/s). Latencies are of
  the requests themselves (think time excluded); a round trip's latency is claim + vote.
* **maximum rate** (throughput), in ``--rounds`` rounds (default 3) that alternate which server
  goes first, both servers running side by side; each server keeps its best round and every
  round's own ratio is printed. ``--max-concurrency`` clients (default 50) with no think time,
  each firing the next request as the last returns: the server is saturated, so the rate is its
  capacity; latency there is queueing (Little's law: ~ concurrency / rate) and is not a target.

Targets, and how they are judged:

* *p99 under 50 ms at 50 volunteers on PostgreSQL*: the p99 of a round trip (claim + vote) in the
  volunteers run.
* *the maximum-rate ratio*: judged on **requests per second** at maximum rate, triage API over bare
  endpoint. The bare endpoint's rate is a rate of HTTP requests, each one request with one
  transaction; a claim and a vote are each one request with one transaction, so per request is
  like for like. A round trip is two requests, so the round-trip ratio (half the request ratio) is
  printed too; it would compare two transactions with one.

The bare endpoint's pool holds a connection for each of AnyIO's 40 worker threads: with fewer, each
request past the pool would open and close a PostgreSQL connection of its own, a handicap that
would flatter the ratio. The API runs at most ``triage_max_in_flight`` requests at once with a pool
of 20, so it opens none either. Both servers get the set-up ``saqshy serve`` gives the API (GIL
switch interval, pool opened at start, collector tuned); the seeded store is analysed before
measuring (a claim planned without statistics sorts every open task). What bounds each server, and
the figures of earlier runs, are in ``docs/performance.md`` (Review loop).

The figures come with the CPU each side used during the measured window (server process, load
generator processes, and the whole machine from ``/proc/stat``): on a shared two-core machine the
load average and the other processes move absolute figures, so compare the ratios.
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
import contextlib  # noqa: E402
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
P99_TARGET_MS = 50.0
# One worker may fall to this share of the bare endpoint's rate for one review-loop path; more
# capacity comes from ``saqshy serve --workers N``.
MAX_RATE_FLOOR = 0.4


# --- Servers (run as subprocesses of this script) ---------------------------------------------------


def _settings(db_url: str, var_dir: str):
    from saqshy.settings import Settings

    return Settings(_env_file=None, database_url=db_url, var_dir=Path(var_dir),
                    elasticsearch_url=None, redis_url=None, triage_exploration_share=0.05,
                    triage_gold_share=0.0)


def _bare_app(db_url: str, var_dir: str):
    from fastapi import FastAPI
    from sqlalchemy import text

    from saqshy.db.session import make_engine, make_session_factory

    # A connection for each of AnyIO's 40 worker threads: with fewer, every request past the pool
    # would open (and then close) a connection of its own, which is not what "one SELECT" costs.
    engine = make_engine(_settings(db_url, var_dir), pool_size=40, max_overflow=10)
    sessions = make_session_factory(engine)
    app = FastAPI()

    @app.get("/bare/{task_id}")
    def bare(task_id: int) -> dict[str, object]:
        with sessions() as session:
            row = session.execute(
                text("SELECT id, status, priority FROM review_tasks WHERE id = :id"), {"id": task_id}
            ).first()
        return {"id": row[0], "status": row[1], "priority": row[2]} if row else {"id": None}

    return app, engine


def _app_from_env():
    """The app of one server process (``--workers`` > 1 starts several, each calling this)."""
    from triage_api.serving import GIL_SWITCH_INTERVAL_S

    # The API sets these when it starts (see triage_api.serving); the bare app gets the same set-up.
    sys.setswitchinterval(GIL_SWITCH_INTERVAL_S)
    kind, db_url, var_dir = (os.environ[f"SAQSHY_BENCH_{k}"] for k in ("KIND", "DB", "VAR"))
    from saqshy.db.session import warm_pool
    from saqshy.gc_tuning import tune_gc

    if kind == "bare":
        app, engine = _bare_app(db_url, var_dir)
    else:
        from saqshy.context import build_context
        from triage_api.main import create_app

        settings = _settings(db_url, var_dir)
        context = build_context(settings)
        # Given its context, the app leaves the pool and the collector alone (tests); a served
        # one (``saqshy serve``) opens its pool and tunes the collector at start: done here.
        app, engine = create_app(settings, context=context), context.engine
    warm_pool(engine)
    tune_gc()
    return app


def serve(kind: str, db_url: str, var_dir: str, port: int, workers: int = 1) -> None:
    import uvicorn

    os.environ.update(SAQSHY_BENCH_KIND=kind, SAQSHY_BENCH_DB=db_url, SAQSHY_BENCH_VAR=var_dir)
    if workers == 1:
        uvicorn.run(_app_from_env(), host="127.0.0.1", port=port, log_level="warning", access_log=False)
    else:
        uvicorn.run("benchmarks.queue:_app_from_env", factory=True, workers=workers, host="127.0.0.1", port=port,
                    log_level="warning", access_log=False)


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
    from sqlalchemy import func, insert, select, text

    from saqshy.context import build_context
    from saqshy.db.models import ContentItem, ReviewTask, Role, TaskStatus
    from saqshy.timeutil import utcnow
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
        # A store that filled up over days has planner statistics (autovacuum keeps them); one
        # seeded a second ago has none, and PostgreSQL would plan the claim as if review_tasks were
        # empty (a full sort of every open task: ~75 ms per claim at 20,000 tasks instead of
        # 0.1 ms). Without this, the figures depended on whether autovacuum happened to run first.
        with ctx.engine.connect() as conn:
            conn.execute(text("ANALYZE"))
            conn.commit()
        return tokens, int(max_id)
    finally:
        ctx.close()


# --- Load (each client process runs ``_load``; the parent only starts, times and collects) ------


def _pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def _cpu_seconds(pid: int) -> float:
    """User + system CPU so far of a process and its live children (uvicorn's workers; Linux ``/proc``)."""
    total = 0.0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:  # exited meanwhile
            continue
        if stat.parent.name == str(pid) or fields[1] == str(pid):
            total += int(fields[11]) + int(fields[12])
    return total / os.sysconf("SC_CLK_TCK")


def _machine_busy() -> tuple[float, float]:
    """(busy, total) CPU seconds of the whole machine so far, from ``/proc/stat``."""
    values = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = values[3] + values[4]
    total = sum(values[:8])
    tick = os.sysconf("SC_CLK_TCK")
    return (total - idle) / tick, total / tick


@dataclass
class LoadPlan:
    """What one client process does (sent to it as JSON)."""

    port: int
    server: str  # "bare" | "triage"
    think_mean: float  # 0: no think time (maximum rate)
    users: list[int]  # indices into tokens (triage) / seeds
    tokens: list[str]
    max_id: int
    measure_from: float  # time.time() of the window's start
    stop: float
    illegal_share: float


async def _load(plan: LoadPlan) -> dict[str, object]:
    import aiohttp

    out: dict[str, list[float]] = {"round_trip": [], "first": [], "second": []}
    errors: list[str] = []
    error_count = 0
    cpu: dict[str, float] = {}
    # Wall clock to agree with the parent and the other client processes on the window.
    now = time.time

    async def window() -> None:
        await asyncio.sleep(max(0.0, plan.measure_from - now()))
        cpu["start"] = time.process_time()
        await asyncio.sleep(max(0.0, plan.stop - now()))
        cpu["stop"] = time.process_time()

    connector = aiohttp.TCPConnector(limit=len(plan.users), force_close=False)
    timeout = aiohttp.ClientTimeout(total=120)
    async with aiohttp.ClientSession(f"http://127.0.0.1:{plan.port}", connector=connector,
                                     timeout=timeout) as http:

        async def bare_request(rng: random.Random, user: int) -> tuple[bool, object]:
            async with http.get(f"/bare/{rng.randint(1, plan.max_id)}") as response:
                await response.read()
                return response.status == 200, response.status

        async def claim(rng: random.Random, user: int) -> tuple[bool, object]:
            headers = {"Authorization": f"Bearer {plan.tokens[user]}"}
            async with http.post("/tasks/claim", headers=headers) as response:
                body = await response.read()
                if response.status == 204:
                    return False, "empty"
                if response.status != 200:
                    return False, f"claim {response.status} {body[:200]!r}"
                return True, json.loads(body)

        async def vote(rng: random.Random, user: int, task: dict[str, object]) -> tuple[bool, object]:
            headers = {"Authorization": f"Bearer {plan.tokens[user]}"}
            draw = rng.random()
            if draw < plan.illegal_share:
                body: dict[str, object] = {"verdict": "illegal", "category": task["category"] or "drugs"}
            elif draw < plan.illegal_share + 0.05:
                body = {"verdict": "unsure"}
            else:
                body = {"verdict": "legal"}
            async with http.post(f"/tasks/{task['id']}/votes", json=body, headers=headers) as response:
                text = await response.read()
                return response.status == 201, f"vote {response.status} {text[:200]!r}"

        async def think(rng: random.Random) -> None:
            if plan.think_mean > 0:
                await asyncio.sleep(rng.expovariate(1.0 / plan.think_mean))

        async def user_loop(user: int) -> None:
            nonlocal error_count
            rng = random.Random(user)
            # Volunteers do not start in lockstep: each begins somewhere in its first think time.
            await think(rng)
            while now() < plan.stop:
                t0 = now()
                if plan.server == "bare":
                    ok, result = await bare_request(rng, user)
                    t1 = now()
                    await think(rng)
                    t2 = now()
                    if ok:
                        ok, result = await bare_request(rng, user)
                else:
                    ok, result = await claim(rng, user)
                    t1 = now()
                    if ok:
                        await think(rng)
                        t2 = now()
                        assert isinstance(result, dict)
                        ok, result = await vote(rng, user, result)
                    else:
                        t2 = t1
                t3 = now()
                if t0 >= plan.measure_from and t3 <= plan.stop:
                    if ok:
                        out["first"].append((t1 - t0) * 1000)
                        out["second"].append((t3 - t2) * 1000)
                        out["round_trip"].append((t1 - t0 + t3 - t2) * 1000)
                    else:
                        error_count += 1
                        if len(errors) < 5:
                            errors.append(str(result)[:300])
                if result == "empty":
                    errors.append("the queue ran out of tasks")
                    return
                if not ok:
                    await think(rng)  # back off after an error rather than hammer the server

        async def bounded(user: int) -> None:
            # A volunteer still thinking or waiting at the end of the window is not counted.
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(user_loop(user), timeout=max(0.1, plan.stop - now() + 0.05))

        await asyncio.gather(window(), *(bounded(u) for u in plan.users))
    return {**out, "errors": error_count, "error_samples": errors,
            "cpu_seconds": cpu.get("stop", 0.0) - cpu.get("start", 0.0)}


def load_main(plan_json: str) -> None:
    plan = LoadPlan(**json.loads(plan_json))
    print(json.dumps(asyncio.run(_load(plan))))


@dataclass
class Run:
    label: str
    server: str
    mode: str
    seconds: float
    round_trips: list[float] = field(default_factory=list, repr=False)
    first: list[float] = field(default_factory=list, repr=False)
    second: list[float] = field(default_factory=list, repr=False)
    errors: int = 0
    error_samples: list[str] = field(default_factory=list)
    server_cpu: float = 0.0
    client_cpu: float = 0.0
    machine_busy: float = 0.0
    machine_total: float = 0.0

    def summary(self) -> dict[str, object]:
        requests = 2 * len(self.round_trips)
        names = ("claim", "vote") if self.server == "triage" else ("get1", "get2")
        out: dict[str, object] = {
            "label": self.label, "server": self.server, "mode": self.mode, "seconds": round(self.seconds, 2),
            "round_trips": len(self.round_trips), "requests": requests,
            "round_trips_per_s": round(len(self.round_trips) / self.seconds, 1),
            "requests_per_s": round(requests / self.seconds, 1),
            "errors": self.errors,
            "rt_p50_ms": round(_pct(self.round_trips, 0.50), 1), "rt_p99_ms": round(_pct(self.round_trips, 0.99), 1),
            f"{names[0]}_p50_ms": round(_pct(self.first, 0.50), 1),
            f"{names[0]}_p99_ms": round(_pct(self.first, 0.99), 1),
            f"{names[1]}_p50_ms": round(_pct(self.second, 0.50), 1),
            f"{names[1]}_p99_ms": round(_pct(self.second, 0.99), 1),
            # CPU milliseconds per HTTP request: what the server and the load generator each cost.
            "server_cpu_ms_per_request": round(1000 * self.server_cpu / requests, 2) if requests else None,
            "client_cpu_ms_per_request": round(1000 * self.client_cpu / requests, 2) if requests else None,
            "server_cpu_share": round(self.server_cpu / self.seconds, 2),
            "client_cpu_share": round(self.client_cpu / self.seconds, 2),
            "machine_busy_share": round(self.machine_busy / self.machine_total, 2) if self.machine_total else None,
        }
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


def _drive(args: argparse.Namespace, server: subprocess.Popen[bytes], port: int, kind: str, mode: str,
           tokens: list[str], max_id: int) -> Run:
    """Runs the client processes against a started server and measures the window."""
    users = list(range(args.volunteers if mode == "volunteers" else args.max_concurrency))
    think = args.think_mean if mode == "volunteers" else 0.0
    processes = max(1, min(args.load_processes, len(users)))
    start = time.time() + 1.0  # time for the client processes to start
    measure_from = start + (args.warmup if mode == "max" else args.warmup + args.think_mean)
    stop = measure_from + args.seconds
    clients = []
    for n in range(processes):
        plan = LoadPlan(port=port, server=kind, think_mean=think, users=users[n::processes], tokens=tokens,
                        max_id=max_id, measure_from=measure_from, stop=stop, illegal_share=args.illegal_share)
        clients.append(subprocess.Popen(
            [sys.executable, __file__, "_load", json.dumps(plan.__dict__)], cwd=ROOT,
            stdout=subprocess.PIPE, stderr=None, preexec_fn=_pinner(args.client_cpus),
        ))
    time.sleep(max(0.0, measure_from - time.time()))
    server_cpu0, (busy0, total0) = _cpu_seconds(server.pid), _machine_busy()
    time.sleep(max(0.0, stop - time.time()))
    server_cpu1, (busy1, total1) = _cpu_seconds(server.pid), _machine_busy()
    label = {("bare", "volunteers"): "bare, 50 users", ("bare", "max"): "bare, max rate",
             ("triage", "volunteers"): "API, 50 users", ("triage", "max"): "API, max rate"}[(kind, mode)]
    run = Run(label=label.replace("50", str(len(users))), server=kind, mode=mode, seconds=args.seconds,
              server_cpu=server_cpu1 - server_cpu0, machine_busy=busy1 - busy0, machine_total=total1 - total0)
    for client in clients:
        stdout, _ = client.communicate(timeout=300)
        if client.returncode != 0:
            raise RuntimeError(f"a load process failed with {client.returncode}")
        result = json.loads(stdout)
        run.round_trips += result["round_trip"]
        run.first += result["first"]
        run.second += result["second"]
        run.errors += result["errors"]
        run.error_samples += result["error_samples"]
        run.client_cpu += result["cpu_seconds"]
    return run


def _pinner(cpus: str | None):
    if not cpus:
        return None
    chosen = {int(c) for c in cpus.split(",")}
    return lambda: os.sched_setaffinity(0, chosen)


def bench_engine(engine: str, args: argparse.Namespace) -> dict[str, object]:
    var_dir = tempfile.mkdtemp(prefix=f"saqshy-bench-{engine}-")
    if engine == "sqlite":
        db_url = f"sqlite:///{Path(var_dir) / 'bench.sqlite3'}"
    else:
        db_url = args.pg_url
        _reset_postgres(db_url)
    t = time.perf_counter()
    n_tokens = max(args.volunteers, args.max_concurrency)
    tokens, max_id = seed(db_url, var_dir, args.tasks, n_tokens)
    print(f"[{engine}] seeded {args.tasks} tasks, {n_tokens} volunteers in {time.perf_counter() - t:.1f}s",
          file=sys.stderr)
    results: dict[str, object] = {"engine": engine, "volunteers": args.volunteers, "tasks": args.tasks,
                                  "think_mean_s": args.think_mean, "max_concurrency": args.max_concurrency}

    # Both servers run side by side (an idle one costs next to nothing), so the maximum-rate runs
    # can alternate: round n measures bare then API, round n+1 API then bare. Other load on a
    # shared machine then falls on both alike, and each keeps its best round.
    servers: dict[str, tuple[subprocess.Popen[bytes], int]] = {}
    try:
        for kind in ("bare", "triage"):
            port = _free_port()
            servers[kind] = (subprocess.Popen(
                [sys.executable, __file__, "_serve", kind, db_url, var_dir, str(port), str(args.workers)],
                cwd=ROOT, stdout=subprocess.DEVNULL, stderr=None, preexec_fn=_pinner(args.server_cpus),
            ), port)
        for server, port in servers.values():
            _wait_for_port(port, server)
        for kind, (server, port) in servers.items():
            run = _drive(args, server, port, kind, "volunteers", tokens, max_id)
            results[f"{kind}_volunteers"] = run.summary()
            print(f"[{engine}] {run.label}: {json.dumps(run.summary())}", file=sys.stderr)
        maxima: dict[str, list[dict[str, object]]] = {"bare": [], "triage": []}
        for n in range(args.rounds):
            for kind in ("bare", "triage") if n % 2 == 0 else ("triage", "bare"):
                server, port = servers[kind]
                summary = _drive(args, server, port, kind, "max", tokens, max_id).summary()
                maxima[kind].append(summary)
                print(f"[{engine}] round {n + 1}: {summary['label']}: {json.dumps(summary)}", file=sys.stderr)
        for kind, summaries in maxima.items():
            results[f"{kind}_max"] = max(summaries, key=lambda s: float(s["requests_per_s"]))  # type: ignore[arg-type]
        results["rounds"] = [
            {"bare": b["requests_per_s"], "triage": t["requests_per_s"],
             "ratio": round(float(t["requests_per_s"]) / float(b["requests_per_s"]), 3)  # type: ignore[arg-type]
             if b["requests_per_s"] else None}
            for b, t in zip(maxima["bare"], maxima["triage"], strict=True)
        ]
    finally:
        for server, _port in servers.values():
            server.terminate()
        for server, _port in servers.values():
            server.wait(timeout=30)
    bare, api = results["bare_max"], results["triage_max"]
    bare_rate = float(bare["requests_per_s"])  # type: ignore[index]
    results["ratio_requests_to_bare"] = round(float(api["requests_per_s"]) / bare_rate, 3) if bare_rate else None  # type: ignore[index]
    results["ratio_round_trips_to_bare_requests"] = (
        round(float(api["round_trips_per_s"]) / bare_rate, 3) if bare_rate else None)  # type: ignore[index]
    results["load_average"] = round(os.getloadavg()[0], 2)
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--engine", choices=["sqlite", "postgresql", "both"], default="both")
    parser.add_argument("--volunteers", type=int, default=50)
    parser.add_argument("--think-mean", type=float, default=2.0,
                        help="mean seconds a volunteer reads an item before voting (exponential)")
    parser.add_argument("--max-concurrency", type=int, default=50,
                        help="clients with no think time in the maximum-rate runs")
    parser.add_argument("--load-processes", type=int, default=2, help="client processes generating the load")
    parser.add_argument("--server-cpus", help="pin the server to these CPUs (e.g. 0); default: no pinning")
    parser.add_argument("--client-cpus", help="pin the load processes to these CPUs (e.g. 1)")
    parser.add_argument("--workers", type=int, default=1,
                        help="server processes (uvicorn --workers), the same for both servers")
    parser.add_argument("--seconds", type=float, default=15.0, help="measured time per run")
    parser.add_argument("--rounds", type=int, default=3,
                        help="maximum-rate rounds, alternating which server goes first; each keeps its best")
    parser.add_argument("--warmup", type=float, default=3.0)
    parser.add_argument("--tasks", type=int, default=20_000)
    parser.add_argument("--illegal-share", type=float, default=0.02,
                        help="share of 'illegal' votes (two agreeing ones open a case with an evidence bundle)")
    parser.add_argument("--pg-url", default=DEFAULT_PG, help="a database this script may wipe")
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args()
    engines = ["sqlite", "postgresql"] if args.engine == "both" else [args.engine]
    results = [bench_engine(engine, args) for engine in engines]
    print(f"\nvolunteers: {args.volunteers}, think time exponential with mean {args.think_mean} s "
          f"(offers ~{args.volunteers / args.think_mean:.0f} round trips/s); max rate: "
          f"{args.max_concurrency} clients, no think time; {args.load_processes} load processes")
    print(f"{'engine':<11}{'run':<17}{'rt/s':>7}{'req/s':>7}{'rt p50':>8}{'rt p99':>8}{'1st p99':>8}"
          f"{'2nd p99':>8}{'err':>5}{'srv ms/req':>11}{'cli ms/req':>11}{'srv cpu':>8}{'cli cpu':>8}{'busy':>6}")
    for r in results:
        for key in ("bare_volunteers", "triage_volunteers", "bare_max", "triage_max"):
            s: dict[str, object] = r[key]  # type: ignore[assignment]
            first, second = ("claim", "vote") if s["server"] == "triage" else ("get1", "get2")
            print(f"{r['engine']:<11}{s['label']:<17}{s['round_trips_per_s']:>7}{s['requests_per_s']:>7}"
                  f"{s['rt_p50_ms']:>8}{s['rt_p99_ms']:>8}{s[f'{first}_p99_ms']:>8}{s[f'{second}_p99_ms']:>8}"
                  f"{s['errors']:>5}{s['server_cpu_ms_per_request']!s:>11}{s['client_cpu_ms_per_request']!s:>11}"
                  f"{s['server_cpu_share']:>8}{s['client_cpu_share']:>8}{s['machine_busy_share']!s:>6}")
        api_v: dict[str, object] = r["triage_volunteers"]  # type: ignore[assignment]
        p99 = float(api_v["rt_p99_ms"])  # type: ignore[arg-type]
        ratio = r["ratio_requests_to_bare"]
        ratio_meets = ratio is not None and float(ratio) >= MAX_RATE_FLOOR  # type: ignore[arg-type]
        print(f"{r['engine']:<11}targets: round-trip p99 at {args.volunteers} volunteers {p99} ms "
              f"({'meets' if p99 < P99_TARGET_MS else 'misses'} < {P99_TARGET_MS:g} ms); "
              f"max rate, requests/s API / bare = {ratio} ({'meets' if ratio_meets else 'misses'} >= {MAX_RATE_FLOOR}; "
              f"round trips / bare requests = {r['ratio_round_trips_to_bare_requests']}); "
              f"load average {r['load_average']}")
        per_round = ", ".join(f"{x['ratio']}" for x in r["rounds"])  # type: ignore[attr-defined]
        print(f"{'':<11}max-rate rounds (API / bare requests/s, each round's own pair): {per_round}")
    print(f"\nmachine: {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f} "
          "(a shared machine skews absolute figures: compare the ratios)")
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "_serve":
        serve(sys.argv[2], sys.argv[3], sys.argv[4], int(sys.argv[5]), int(sys.argv[6]))
    elif len(sys.argv) > 1 and sys.argv[1] == "_load":
        load_main(sys.argv[2])
    else:
        main()
