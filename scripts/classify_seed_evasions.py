#!/usr/bin/env python
"""Regenerate data/seed/evasions_augmented.jsonl from the hand-written seed files (deterministic).

Every hand-written positive, and a third of the negatives, gets one machine-made evasion (homoglyphs,
leetspeak, spaced letters, transliteration or zero-width characters). The variant keeps its source's
``group``, so it always lands in the same train/calibration/test split as the text it came from.
"""

from __future__ import annotations

import json
import random
from pathlib import Path

from classifier.evasion import TECHNIQUES, evade

SEED = Path(__file__).resolve().parent.parent / "data" / "seed"
SOURCES = ("positives.jsonl", "hard_negatives.jsonl", "negatives.jsonl")


def main() -> None:
    rng = random.Random(20241121)
    rows = []
    for name in SOURCES:
        for line in (SEED / name).read_text(encoding="utf-8").splitlines():
            src = json.loads(line)
            if not src["labels"] and rng.random() > 1 / 3:
                continue
            technique = rng.choice(TECHNIQUES)
            if technique == "translit" and src["lang"] == "en":
                technique = "leet"
            rows.append(
                {
                    "id": f"{src['id']}~{technique}",
                    "text": evade(src["text"], technique, rng),
                    "lang": src["lang"],
                    "labels": src["labels"],
                    "kind": "evasion" if src["labels"] else "evasion_negative",
                    "technique": technique,
                    "group": src["group"],
                    "source": "augmented",
                }
            )
    out = SEED / "evasions_augmented.jsonl"
    out.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    print(f"wrote {len(rows)} rows to {out}")


if __name__ == "__main__":
    main()
