"""Benchmark: retraining from the reviews on this machine's CPU, ``--mode fast`` against ``--mode full``.

Builds a temporary store holding N decided items (default 5,000) made from the seed data's
training texts as people repost them (typos, emoji, case, Latin-script transliteration, a
greeting or a call to write in private, two posts glued together), each decided as the review
work leaves it (volunteers' consensus, a moderator, a police outcome, a gold task; some with a
near-duplicate repost in their cluster), through the store factories. Then, in one run and on
the same store, it runs the retraining job's code (``classifier.retrain.retrain_with``: the real
``dataset export`` -> ``train`` -> gate against the checkout's production model) once per mode.

Both modes are scored by the gate on the same frozen held-out set (the seed test split plus the
export's test split; its ledger keeps the split fixed between the runs: the script checks the
set's hash is the same). Reports per mode the wall time, the process CPU seconds, the time spent
training, the held-out ROC-AUC (overall, per language, per category) and the gate's verdict, then
full's ROC-AUC gain or loss against fast and its time as a ratio of fast's. The CPU's vector flags
and the load average are recorded. Writes benchmarks/results/retrain.json.

Needs the models folder (a production model and ``models/base``).

    python -m benchmarks.retrain                                # 5,000 labels, fast and full
    python -m benchmarks.retrain --labels 1000 --modes fast,full --epochs 1
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import shutil
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from classifier.data import Example, read_examples
from classifier.registry import Registry
from classifier.retrain import MODES, retrain_with
from classifier.taxonomy import load_taxonomy
from classifier.train import TrainConfig
from saqshy.context import Context, build_context
from saqshy.db.models import CaseOutcome, Verdict
from saqshy.db.session import session_scope
from saqshy.settings import Settings, get_settings
from tests.classifier.review_factories import make_decision, make_item

RESULTS = Path(__file__).resolve().parent / "results"
FAST_BUDGET_S = 600.0
START = datetime(2026, 9, 1, tzinfo=UTC)
EMOJI = ["🔥", "✅", "👉", "😂", "🙏", "‼️", "💰", "📦", "💯", "😱", "👍"]
EXTRAS = {
    "ru": ["Срочно!", "пишите в лс", "репост плиз", "кто знает?", "всем привет", "инфа 100%", "актуально"],
    "kk": ["Сәлем бәріне", "жеке жазыңыз", "тез арада", "бөлісіңіздер", "білетіндер бар ма?"],
    "en": ["DM me", "pls share", "anyone?", "legit", "check it out"],
}
LATIN = dict(zip(
    "абвгдеёжзийклмнопрстуфхцчшщъыьэюяәғқңөұүһі",
    ["a", "b", "v", "g", "d", "e", "yo", "zh", "z", "i", "y", "k", "l", "m", "n", "o", "p", "r", "s", "t", "u",
     "f", "h", "ts", "ch", "sh", "sch", "", "y", "", "e", "yu", "ya", "a", "g", "q", "n", "o", "u", "u", "h", "i"],
    strict=True,
))


@dataclass(frozen=True)
class Review:
    text: str
    lang: str
    verdict: Verdict
    category: str | None


def _typo(word: str, rng: random.Random) -> str:
    if len(word) < 4:
        return word
    i = rng.randrange(len(word) - 1)
    return word[:i] + word[i + 1] + word[i] + word[i + 2 :] if rng.random() < 0.6 else word[:i] + word[i + 1 :]


def _latin(text: str) -> str:
    return "".join(LATIN.get(ch.lower(), ch) if ch.isalpha() else ch for ch in text)


def vary(text: str, lang: str, rng: random.Random, others: list[Example]) -> str:
    """One repost of ``text``: a few of the things people do to a post, picked at random."""
    words = text.split()
    for _ in range(rng.choice([0, 0, 1, 2])):
        k = rng.randrange(len(words))
        words[k] = _typo(words[k], rng)
    out = " ".join(words)
    if rng.random() < 0.3:
        out = out.lower()
    if lang in ("ru", "kk") and rng.random() < 0.12:
        out = _latin(out)
    if rng.random() < 0.35:
        extra = rng.choice(EXTRAS.get(lang, EXTRAS["en"]))
        out = f"{extra} {out}" if rng.random() < 0.5 else f"{out} {extra}"
    if rng.random() < 0.4:
        out += " " + "".join(rng.choices(EMOJI, k=rng.randint(1, 3)))
    if others and rng.random() < 0.15:
        out = f"{out}\n\n{rng.choice(others).text}"  # glued to a legal post: the label stays
    return out


def reviews(n: int, seed: int = 0) -> list[Review]:
    """``n`` reviewed reposts of the seed set's training and calibration texts (never its test split)."""
    rng = random.Random(seed)
    pool = [e for e in read_examples([get_settings().seed_data], load_taxonomy()) if e.split != "test"]
    legal = [e for e in pool if not e.is_illegal]
    out = []
    for _ in range(n):
        e = rng.choice(pool)
        verdict = Verdict.ILLEGAL if e.is_illegal else Verdict.LEGAL
        out.append(Review(vary(e.text, e.lang, rng, legal), e.lang, verdict, e.labels[0] if e.labels else None))
    return out


def build_store(ctx: Context, items: list[Review], seed: int = 0) -> dict[str, int]:
    """Decide each review as the work leaves it: mostly consensus, some by a moderator, by the police, or gold."""
    rng = random.Random(seed)
    sources: dict[str, int] = {}
    step = timedelta(days=60) / max(1, len(items))
    with session_scope(ctx.sessions) as session:
        for i, r in enumerate(items):
            cluster = 1_000_000 + i if rng.random() < 0.15 else None
            item = make_item(session, r.text, lang=r.lang, cluster_id=cluster)
            roll = rng.random()
            source = "consensus" if roll < 0.8 else "moderator" if roll < 0.9 else "police" if roll < 0.95 else "gold"
            verdict, outcome = r.verdict, None
            if source == "police":
                # the volunteers flagged it; the police outcome decides the label
                verdict = Verdict.ILLEGAL
                outcome = CaseOutcome.NOT_ILLEGAL if r.verdict == Verdict.LEGAL else CaseOutcome.TAKEDOWN_REQUESTED
            make_decision(session, item, verdict, r.category or ("drugs" if source == "police" else None),
                          at=START + step * i, source=source, outcome=outcome)
            if cluster is not None:
                make_item(session, vary(r.text, r.lang, rng, []), lang=r.lang, cluster_id=cluster)
            sources[source] = sources.get(source, 0) + 1
    return sources


def base_sample(n: int, out: Path, seed: int = 0) -> Path:
    """``n`` lines of the seed data drawn at random, as a base data file (each keeps its split)."""
    lines = [line for path in sorted(get_settings().seed_data.glob("*.jsonl"))
             for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    out.write_text("\n".join(random.Random(seed).sample(lines, min(n, len(lines)))) + "\n", encoding="utf-8")
    return out


def workspace(root: Path) -> Settings:
    """Settings for a throwaway store and registry that holds the checkout's production model."""
    real = get_settings()
    registry = Registry(real.models_dir)
    production = registry.production()
    if production is None:
        raise SystemExit(f"no production model in {real.models_dir}: the gate needs one to compare against")
    models = root / "models"
    models.mkdir(parents=True)
    (models / "base").symlink_to((real.models_dir / "base").resolve())
    shutil.copytree(registry.path(production), models / production)
    (models / "PRODUCTION").write_text(production + "\n", encoding="utf-8")
    return real.model_copy(update={"var_dir": root / "var", "models_dir": models,
                                   "database_url": f"sqlite:///{root / 'store.db'}", "redis_url": None})


def cpu_flags() -> list[str]:
    try:
        flags = Path("/proc/cpuinfo").read_text().split()
    except OSError:
        return []
    return sorted({f for f in flags if f in ("avx2", "avx512f", "avx512_vnni", "avx_vnni", "amx_tile")})


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def run_mode(ctx: Context, config: TrainConfig, base_data: list[str] | None) -> dict[str, Any]:
    load = os.getloadavg()
    wall, cpu = time.perf_counter(), cpu_seconds()
    result = retrain_with(ctx, config, base_data=base_data)
    wall, cpu = time.perf_counter() - wall, cpu_seconds() - cpu
    registry = Registry(ctx.settings.models_dir)
    gate = json.loads((registry.path(result["version"]) / "gate.json").read_text())
    data = json.loads((registry.path(result["version"]) / "data.json").read_text())
    return {
        "mode": config.mode, "epochs": config.epochs if config.mode == "full" else None,
        "version": result["version"], "wall_s": round(wall, 1), "cpu_s": round(cpu, 1),
        "train_s": data["seconds"], "fast_budget_s": FAST_BUDGET_S if config.mode == "fast" else None,
        "examples": data["counts"]["examples"], "load_before": [round(x, 2) for x in load],
        "load_after": [round(x, 2) for x in os.getloadavg()],
        "gate_passed": result["gate_passed"], "gate_failures": result["gate_failures"],
        "heldout": gate["heldout"], "overall": gate["overall"],
        "per_language": {k: v["candidate"] for k, v in gate["per_language"].items()},
        "per_category": {k: v["candidate"] for k, v in gate["per_category"].items()},
        "production_per_language": {k: v["production"] for k, v in gate["per_language"].items()},
        "production_per_category": {k: v["production"] for k, v in gate["per_category"].items()},
    }


def _print_mode(row: dict[str, Any]) -> None:
    overall = row["overall"]
    epochs = "" if row["epochs"] is None else f" ({row['epochs']} epochs)"
    print(f"\n{row['mode']}{epochs}: "
          f"wall {row['wall_s']:.0f}s (training {row['train_s']:.0f}s), CPU {row['cpu_s']:.0f}s, "
          f"{row['examples']} training-file examples, load {row['load_before']} -> {row['load_after']}")
    print(f"  held-out ROC-AUC {overall['candidate']} (production {overall['production']}), Brier "
          f"{overall['brier']['candidate']} (production {overall['brier']['production']}); gate "
          + ("passed" if row["gate_passed"] else "failed: " + ", ".join(row["gate_failures"])))
    print("  per language: " + ", ".join(f"{k} {v}" for k, v in row["per_language"].items()))
    print("  per category: " + ", ".join(f"{k} {v}" for k, v in row["per_category"].items()))


def compare(rows: list[dict[str, Any]]) -> dict[str, Any]:
    by_mode = {r["mode"]: r for r in rows}
    if set(by_mode) != {"fast", "full"}:
        return {}
    fast, full = by_mode["fast"], by_mode["full"]
    if fast["heldout"]["sha256"] != full["heldout"]["sha256"]:
        raise SystemExit("the two modes were gated on different held-out sets: the comparison is void")
    gain = round(full["overall"]["candidate"] - fast["overall"]["candidate"], 4)
    return {
        "full_gain_roc_auc": gain,
        "full_time_ratio": round(full["wall_s"] / fast["wall_s"], 2),
        "per_language_gain": {k: None if v is None or fast["per_language"][k] is None
                              else round(v - fast["per_language"][k], 4) for k, v in full["per_language"].items()},
        "per_category_gain": {k: None if v is None or fast["per_category"][k] is None
                              else round(v - fast["per_category"][k], 4) for k, v in full["per_category"].items()},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--labels", type=int, default=5000, help="decided items in the store")
    parser.add_argument("--modes", default="fast,full", help="comma-separated: fast, full")
    parser.add_argument("--epochs", type=int, default=TrainConfig.epochs, help="full mode's epochs")
    parser.add_argument("--base", type=int, default=0,
                        help="train on this many seed examples drawn at random, not all (the gate's held-out set "
                        "stays the whole seed test split)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--keep", action="store_true", help="keep the temporary store and registry")
    args = parser.parse_args()
    modes = [m.strip() for m in args.modes.split(",") if m.strip()]
    if not modes or any(m not in MODES for m in modes) or args.labels < 50 or args.epochs < 1 or args.base < 0:
        parser.error(f"--modes takes {', '.join(MODES)}; --labels at least 50; --epochs at least 1; --base 0 or more")

    root = Path(tempfile.mkdtemp(prefix="saqshy-retrain-bench-"))
    try:
        settings = workspace(root)
        ctx = build_context(settings)
        print(f"CPU flags: {', '.join(cpu_flags()) or 'none of avx2/avx512'}; {os.cpu_count()} CPUs, "
              f"torch threads {settings.torch_threads}; load {[round(x, 2) for x in os.getloadavg()]}")
        started = time.perf_counter()
        sources = build_store(ctx, reviews(args.labels, args.seed), args.seed)
        print(f"store: {args.labels} decided items ({sources}) in {time.perf_counter() - started:.0f}s")
        base = [str(base_sample(args.base, root / "base.jsonl", args.seed))] if args.base else None
        rows = []
        for mode in modes:
            rows.append(run_mode(ctx, TrainConfig(mode=mode, epochs=args.epochs), base))
            _print_mode(rows[-1])
        comparison = compare(rows)
        if comparison:
            print(f"\nfull against fast on the same held-out set ({rows[0]['heldout']['examples']} examples): "
                  f"ROC-AUC {comparison['full_gain_roc_auc']:+.4f}, time x{comparison['full_time_ratio']}")
        for row in rows:
            if row["mode"] == "fast":
                verdict = "within" if row["wall_s"] <= FAST_BUDGET_S else "OVER"
                print(f"fast mode {verdict} its {FAST_BUDGET_S / 60:.0f}-minute budget ({row['wall_s']:.0f}s)")
        RESULTS.mkdir(exist_ok=True)
        out = {"labels": args.labels, "base": args.base or "all seed data", "sources": sources,
               "cpu_flags": cpu_flags(), "cpus": os.cpu_count(),
               "torch_threads": settings.torch_threads, "rows": rows, "comparison": comparison,
               "created_at": datetime.now(UTC).isoformat(timespec="seconds")}
        (RESULTS / "retrain.json").write_text(json.dumps(out, ensure_ascii=False, indent=1) + "\n")
        print(f"wrote {RESULTS / 'retrain.json'}")
        ctx.engine.dispose()
    finally:
        if args.keep:
            print(f"kept {root}")
        else:
            shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
