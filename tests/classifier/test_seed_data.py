"""The seed dataset (data/seed/) keeps the size, balance and languages its dataset card promises."""

from __future__ import annotations

import json
from collections import Counter

import pytest

from classifier.data import DEFAULT_SEED_DIR, Example, read_examples
from classifier.taxonomy import load_taxonomy

MIN_TEAM_WRITTEN = 2500
MIN_POSITIVES_PER_CATEGORY = 150
MIN_HARD_NEGATIVES_PER_CATEGORY = 100
MIN_KAZAKH_SHARE = 1 / 3
MIN_CODE_SWITCHED_SHARE = 1 / 10


@pytest.fixture(scope="module")
def examples() -> list[Example]:
    return read_examples([DEFAULT_SEED_DIR], load_taxonomy())


@pytest.fixture(scope="module")
def team_written(examples: list[Example]) -> list[Example]:
    """Written by people: the machine-made evasion variants (``source: augmented``) left out."""
    return [e for e in examples if e.extra.get("source") != "augmented"]


def test_ids_are_unique_across_files() -> None:
    ids = [json.loads(line)["id"] for path in DEFAULT_SEED_DIR.glob("*.jsonl") for line in path.open() if line.strip()]
    assert len(ids) == len(set(ids)), [i for i, n in Counter(ids).items() if n > 1]


def test_team_written_size(team_written: list[Example]) -> None:
    assert len(team_written) >= MIN_TEAM_WRITTEN


def test_positives_and_hard_negatives_per_category(team_written: list[Example]) -> None:
    positives = Counter(label for e in team_written for label in e.labels)
    legal_kinds = ("hard_negative", "evasion_negative")
    hard_negatives = Counter(e.extra.get("topic") for e in team_written if e.kind in legal_kinds)
    for category in load_taxonomy().names:
        assert positives[category] >= MIN_POSITIVES_PER_CATEGORY, (category, positives[category])
        assert hard_negatives[category] >= MIN_HARD_NEGATIVES_PER_CATEGORY, (category, hard_negatives[category])


@pytest.mark.parametrize("subset", ["all", "team_written"])
def test_language_shares(subset: str, examples: list[Example], team_written: list[Example]) -> None:
    rows = examples if subset == "all" else team_written
    langs = Counter(e.lang for e in rows)
    assert langs["kk"] / len(rows) >= MIN_KAZAKH_SHARE, langs
    assert langs["mixed"] / len(rows) >= MIN_CODE_SWITCHED_SHARE, langs  # code-switched: ru/kk, kk/en, ru/en


def test_hard_negatives_name_the_category_they_resemble(examples: list[Example]) -> None:
    names = set(load_taxonomy().names)
    for e in examples:
        if e.kind == "hard_negative":
            assert e.extra.get("topic") in names, e.id
        assert e.is_illegal == (e.kind in ("positive", "evasion")), e.id


def test_no_text_is_written_twice(team_written: list[Example]) -> None:
    counts = Counter(e.text.strip() for e in team_written)
    assert [t for t, n in counts.items() if n > 1] == []
