"""Crawl throughput: the full Saqshy pipeline against a bare Scrapy spider, same site, same run.

A generated site of ``--pages`` articles (mixed Russian, Kazakh and English text, navigation,
footer, ~12 links each) is served from memory by a small asyncio HTTP server in its own
process. Each crawl runs in its own child process (Twisted's reactor starts once per process):

* ``bare``: a Scrapy spider that only follows the same links (same LinkExtractor, same
  Scrapy settings: robots.txt, concurrency, timeouts, breadth-first order), no items, none of
  Saqshy's middlewares, extensions or pipelines;
* ``saqshy``: the ``site`` spider with the whole pipeline: canonical URL, ``rel=next``, forum
  and image checks, outlinks, WARC evidence with the body's SHA-256, charset, trafilatura,
  language, SimHash clusters, store (SQLite), search outbox, ``score_items`` jobs.

Like with like: both crawl the same pages from the same server with the same Scrapy settings
(``COMMON`` over ``crawlers.settings``) and the same garbage-collector settings
(``saqshy.gc_tuning.tune_gc``), and both are timed by Scrapy's own stats from spider
open to spider close, so the Saqshy time includes draining its pipeline (every item extracted,
WARC-recorded and committed to SQL) before the spider closes; start-up (imports, models, the
database) is outside both. Runs are interleaved (bare, saqshy, bare, saqshy, ...) so a change
in the machine's load hits both; the ratio of median pages/s is the result, each round's own
ratio and the load average are printed beside it. On a busy machine every process gets a
share of the CPU, so the ratio mostly measures the CPU each crawl process spends per page.
Usage: ``python -m benchmarks.crawl [--pages 5000] [--rounds 2] [--json out.json]``.
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
import asyncio
import json
import multiprocessing
import os
import random
import resource
import statistics
import tempfile
import time
from multiprocessing.connection import Connection
from typing import Any

WORDS = {
    "ru": [
        "город",
        "совет",
        "план",
        "развития",
        "транспорт",
        "автобус",
        "маршрут",
        "жители",
        "проект",
        "слушания",
        "новости",
        "рынок",
        "цены",
        "работа",
        "школа",
        "больница",
        "дорога",
        "погода",
        "праздник",
        "выборы",
        "закон",
        "суд",
        "полиция",
        "деньги",
        "банк",
        "кредит",
    ],
    "kk": [
        "қала",
        "кеңес",
        "жоспар",
        "даму",
        "көлік",
        "автобус",
        "бағыт",
        "тұрғындар",
        "жоба",
        "тыңдау",
        "жаңалықтар",
        "нарық",
        "баға",
        "жұмыс",
        "мектеп",
        "аурухана",
        "жол",
        "ауа",
        "райы",
        "мереке",
        "сайлау",
        "заң",
        "сот",
        "полиция",
        "ақша",
        "банк",
        "несие",
    ],
    "en": [
        "city",
        "council",
        "plan",
        "development",
        "transport",
        "bus",
        "route",
        "residents",
        "project",
        "hearing",
        "news",
        "market",
        "prices",
        "work",
        "school",
        "hospital",
        "road",
        "weather",
        "holiday",
        "election",
        "law",
        "court",
        "police",
        "money",
        "bank",
        "loan",
    ],
}


def make_site(pages: int, seed: int = 7) -> dict[str, bytes]:
    rng = random.Random(seed)
    site: dict[str, bytes] = {
        "/robots.txt": b"User-agent: *\nDisallow: /private/\n",
    }
    for n in range(pages):
        lang = ("ru", "kk", "en")[n % 3]
        words = WORDS[lang]
        paras = "".join(
            "<p>" + " ".join(rng.choice(words) for _ in range(rng.randint(40, 80))).capitalize() + ".</p>"
            for _ in range(rng.randint(3, 6))
        )
        children = [c for c in range(10 * n + 1, 10 * n + 11) if c < pages]
        extra = [rng.randrange(pages) for _ in range(2)]
        links = "".join(f'<li><a href="/a/{c}">{rng.choice(words)} {c}</a></li>' for c in children + extra)
        html = (
            f'<!DOCTYPE html><html><head><meta charset="utf-8"><title>Article {n}</title>'
            f'<link rel="canonical" href="/a/{n}"></head><body>'
            '<header><nav><a href="/a/0">Home</a> <a href="/a/1">News</a> <a href="/a/2">About</a></nav></header>'
            f"<main><article><h1>Article {n}</h1>{paras}</article><aside><ul>{links}</ul></aside></main>"
            "<footer>© Bench site · contacts · privacy · terms</footer></body></html>"
        )
        site[f"/a/{n}"] = html.encode("utf-8")
    return site


def serve(site: dict[str, bytes], port_pipe: Connection) -> None:
    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                path = head.split(b" ", 2)[1].decode()
                body = site.get(path)
                status = b"200 OK" if body is not None else b"404 Not Found"
                body = body if body is not None else b"not found"
                ctype = b"text/plain" if path.endswith(".txt") else b"text/html; charset=utf-8"
                writer.write(
                    b"HTTP/1.1 "
                    + status
                    + b"\r\nContent-Type: "
                    + ctype
                    + b"\r\nContent-Length: "
                    + str(len(body)).encode()
                    + b"\r\n\r\n"
                    + body
                )
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError, IndexError):
            pass
        finally:
            writer.close()

    async def main() -> None:
        server = await asyncio.start_server(handle, "127.0.0.1", 0, backlog=1024)
        port_pipe.send(server.sockets[0].getsockname()[1])
        async with server:
            await server.serve_forever()

    asyncio.run(main())


class CpuMark:
    """Records the crawl process's CPU seconds between spider open and close (startup excluded)."""

    def __init__(self, crawler: Any) -> None:
        from scrapy import signals

        self.stats = crawler.stats
        self.opened = 0.0
        crawler.signals.connect(self.spider_opened, signal=signals.spider_opened)
        crawler.signals.connect(self.spider_closed, signal=signals.spider_closed)

    @classmethod
    def from_crawler(cls, crawler: Any) -> CpuMark:
        return cls(crawler)

    @staticmethod
    def _now() -> float:
        usage = resource.getrusage(resource.RUSAGE_SELF)
        return usage.ru_utime + usage.ru_stime

    def spider_opened(self, spider: Any) -> None:
        self.opened = self._now()

    def spider_closed(self, spider: Any) -> None:
        # An int under saqshy/ so the runner's summary carries it.
        self.stats.set_value("saqshy/bench_cpu_crawl_ms", int((self._now() - self.opened) * 1000))


COMMON: dict[str, Any] = {
    "AUTOTHROTTLE_ENABLED": False,
    "DOWNLOAD_DELAY": 0,
    "RETRY_ENABLED": False,
    "CONCURRENT_REQUESTS": 32,
    "CONCURRENT_REQUESTS_PER_DOMAIN": 32,
    "LOG_LEVEL": "ERROR",
}


def run_bare(root: str, result: Connection) -> None:
    import scrapy
    from scrapy.crawler import CrawlerProcess
    from scrapy.linkextractors import LinkExtractor

    from crawlers.settings import scrapy_settings
    from crawlers.spiders.site import DENY_EXTENSIONS
    from saqshy.gc_tuning import tune_gc
    from saqshy.settings import Settings

    class BareSpider(scrapy.Spider):
        name = "bare"
        links = LinkExtractor(deny_extensions=DENY_EXTENSIONS, unique=True)

        async def start(self):
            yield scrapy.Request(root + "/a/0", dont_filter=False)

        def parse(self, response):
            for link in self.links.extract_links(response):
                if link.url.startswith(root):
                    yield scrapy.Request(link.url, callback=self.parse)

    settings = scrapy_settings(Settings(_env_file=None, crawler_allowed_networks="127.0.0.0/8"), overrides=COMMON)
    # Same Scrapy stack, minus everything Saqshy adds.
    settings.set("ITEM_PIPELINES", {}, priority="cmdline")
    settings.set("EXTENSIONS", {"benchmarks.crawl.CpuMark": 900}, priority="cmdline")
    settings.set("DOWNLOADER_MIDDLEWARES", {}, priority="cmdline")
    process = CrawlerProcess(settings)
    crawler = process.create_crawler(BareSpider)
    process.crawl(crawler)
    # The garbage-collector settings of Saqshy's crawl runner, so the bare spider gets them too.
    tune_gc()
    process.start()
    stats = crawler.stats.get_stats()
    elapsed = (stats["finish_time"] - stats["start_time"]).total_seconds()
    pages = int(stats.get("response_received_count", 0)) - 1  # minus robots.txt
    result.send(
        {
            "pages": pages,
            "seconds": elapsed,
            "items": 0,
            "cpu_crawl_s": stats.get("saqshy/bench_cpu_crawl_ms", 0) / 1000,
            **_cpu(),
        }
    )


def run_saqshy(root: str, var_dir: str, processes: int, result: Connection) -> None:
    from crawlers.runner import crawl_in_process
    from saqshy.context import build_context
    from saqshy.db.session import session_scope
    from saqshy.services.sources import add_source
    from saqshy.settings import Settings

    settings = Settings(
        _env_file=None, var_dir=Path(var_dir), redis_url=None, database_url=None, crawler_allowed_networks="127.0.0.0/8"
    )
    ctx = build_context(settings)
    with session_scope(ctx.sessions) as session:
        add_source(session, root + "/a/0", "site", policy=settings.address_policy, depth=20, name="bench")
    ctx.close()
    from crawlers.settings import EXTENSIONS

    overrides = {
        **COMMON,
        "SAQSHY_EXTRACT_PROCESSES": processes,
        "EXTENSIONS": {**EXTENSIONS, "benchmarks.crawl.CpuMark": 900},
    }
    summary = crawl_in_process(settings, ["bench"], progress=False, overrides=overrides)
    source = summary.sources[0]
    result.send(
        {
            "pages": source.pages,
            "seconds": source.elapsed_seconds,
            "items": source.counters.get("items/new", 0),
            "errors": source.errors,
            "finish_reason": source.finish_reason,
            "cpu_crawl_s": source.counters.get("bench_cpu_crawl_ms", 0) / 1000,
            **_cpu(),
        }
    )


def _cpu() -> dict[str, float]:
    """CPU seconds of this crawl process and of its (finished) extraction workers."""
    own, workers = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return {
        "cpu_main_s": round(own.ru_utime + own.ru_stime, 2),
        "cpu_workers_s": round(workers.ru_utime + workers.ru_stime, 2),
    }


def _child(target: Any, *args: Any) -> dict[str, Any]:
    context = multiprocessing.get_context("spawn")
    receiver, sender = context.Pipe(duplex=False)
    process = context.Process(target=target, args=(*args, sender))
    process.start()
    sender.close()
    data = receiver.recv()
    process.join()
    return dict(data)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pages", type=int, default=5000)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--processes", type=int, default=None, help="extraction worker processes")
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()

    from crawlers.settings import SAQSHY_EXTRACT_PROCESSES

    processes = SAQSHY_EXTRACT_PROCESSES if args.processes is None else args.processes
    context = multiprocessing.get_context("spawn")
    receiver, sender = context.Pipe(duplex=False)
    server = context.Process(target=serve, args=(make_site(args.pages), sender), daemon=True)
    server.start()
    root = f"http://127.0.0.1:{receiver.recv()}"
    load_before = os.getloadavg()
    print(
        f"site: {args.pages} pages at {root}; cores: {os.cpu_count()}; extraction processes: {processes}; "
        f"load average {load_before[0]:.2f}"
    )

    runs: dict[str, list[dict[str, Any]]] = {"bare": [], "saqshy": []}
    with tempfile.TemporaryDirectory() as tmp:
        for round_no in range(args.rounds):
            bare = _child(run_bare, root)
            runs["bare"].append(bare)
            print(
                f"round {round_no + 1} bare:   {bare['pages']} pages in {bare['seconds']:.1f}s "
                f"= {bare['pages'] / bare['seconds']:.0f} pages/s (crawl cpu {bare['cpu_crawl_s']}s)"
            )
            saq = _child(run_saqshy, root, f"{tmp}/var{round_no}", processes)
            runs["saqshy"].append(saq)
            print(
                f"round {round_no + 1} saqshy: {saq['pages']} pages in {saq['seconds']:.1f}s "
                f"= {saq['pages'] / saq['seconds']:.0f} pages/s ({saq['items']} items, {saq['errors']} errors, "
                f"crawl cpu {saq['cpu_crawl_s']}s + workers {saq['cpu_workers_s']}s); "
                f"round ratio {(saq['pages'] / saq['seconds']) / (bare['pages'] / bare['seconds']):.2f}, "
                f"load average {os.getloadavg()[0]:.2f}"
            )
    server.terminate()

    def rate(kind: str) -> float:
        return statistics.median(r["pages"] / r["seconds"] for r in runs[kind])

    report = {
        "pages": args.pages,
        "cpu_count": os.cpu_count(),
        "extract_processes": processes,
        "bare_pages_per_s": round(rate("bare"), 1),
        "saqshy_pages_per_s": round(rate("saqshy"), 1),
        "ratio": round(rate("saqshy") / rate("bare"), 3),
        "round_ratios": [
            round((s["pages"] / s["seconds"]) / (b["pages"] / b["seconds"]), 3)
            for b, s in zip(runs["bare"], runs["saqshy"], strict=True)
        ],
        "load_average": {"before": round(load_before[0], 2), "after": round(os.getloadavg()[0], 2)},
        # CPU seconds per page, bare over Saqshy: what the wall-clock ratio tends to on a machine
        # with no core to spare (all of the pipeline's CPU counts), and, for the crawl process
        # alone, on one with a core free for the extraction worker.
        "cpu_ratio_total": round(
            statistics.median(r["cpu_crawl_s"] / r["pages"] for r in runs["bare"])
            / statistics.median((r["cpu_crawl_s"] + r["cpu_workers_s"]) / r["pages"] for r in runs["saqshy"]),
            3,
        ),
        "cpu_ratio_crawl_process": round(
            statistics.median(r["cpu_crawl_s"] / r["pages"] for r in runs["bare"])
            / statistics.median(r["cpu_crawl_s"] / r["pages"] for r in runs["saqshy"]),
            3,
        ),
        "runs": runs,
        "at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    print(
        f"bare {report['bare_pages_per_s']} pages/s, saqshy {report['saqshy_pages_per_s']} pages/s, "
        f"ratio {report['ratio']} (target >= 0.6); round ratios {report['round_ratios']}; "
        f"load average {report['load_average']['before']} -> {report['load_average']['after']}\n"
        f"CPU per page, bare / saqshy: {report['cpu_ratio_total']} counting the extraction workers, "
        f"{report['cpu_ratio_crawl_process']} for the crawl process alone"
    )
    if args.json:
        args.json.write_text(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
