"""Score drift's building blocks: fixed bins, PSI, and a version's held-out reference distribution."""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path

import pytest

from classifier.drift import BINS, EDGES, REFERENCE, compute_reference, histogram, load_reference, psi
from classifier.registry import Registry
from saqshy.context import Context
from saqshy.settings import Settings
from tests.classifier.conftest import tiny_dataset


def test_psi_matches_a_hand_computed_value() -> None:
    # Shares 0.5/0.5 against 0.8/0.2: 0.3 ln(0.8/0.5) + (-0.3) ln(0.2/0.5) = 0.3 ln 1.6 + 0.3 ln 2.5.
    assert psi([50, 50], [80, 20]) == pytest.approx(0.3 * math.log(1.6) + 0.3 * math.log(2.5), abs=1e-12)
    assert psi([50, 50], [80, 20]) == pytest.approx(0.415888, abs=1e-6)
    assert psi([10] * BINS, [7] * BINS) == pytest.approx(0.0)


def test_psi_smooths_empty_bins_with_epsilon() -> None:
    # Uniform reference, everything in the top bin: nine bins at the epsilon 1e-4 and one at 1.0.
    expected = 9 * (1e-4 - 0.1) * math.log(1e-4 / 0.1) + (1.0 - 0.1) * math.log(1.0 / 0.1)
    assert psi([10] * BINS, [0] * (BINS - 1) + [25]) == pytest.approx(expected, rel=1e-9)
    assert expected == pytest.approx(8.283089, abs=1e-5)


@pytest.mark.parametrize(("expected", "actual"), [([1, 2], [1, 2, 3]), ([0, 0], [1, 1]), ([1, 1], [0, 0]),
                                                  ([], []), ([1, -1], [1, 1])])
def test_psi_refuses_histograms_it_cannot_compare(expected: list[int], actual: list[int]) -> None:
    with pytest.raises(ValueError, match="PSI needs"):
        psi(expected, actual)


def test_histogram_bins_are_fixed_and_half_open() -> None:
    assert EDGES[0] == 0.0 and EDGES[-1] == 1.0 and len(EDGES) == BINS + 1
    counts = histogram([0.0, 0.0999, 0.1, 0.5, 0.95, 1.0, 1.7, -0.2])
    assert counts == [3, 1, 0, 0, 0, 1, 0, 0, 0, 3]  # values outside [0, 1] land in the end bins
    assert histogram([]) == [0] * BINS


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory, tiny_base: Path) -> tuple[Path, Path, str]:
    from classifier.taxonomy import load_taxonomy
    from classifier.train import train
    from tests.classifier.conftest import tiny_train_config

    root = tmp_path_factory.mktemp("drift")
    data = tiny_dataset(root / "data.jsonl")
    settings = Settings(_env_file=None, models_dir=root / "models", base_model=str(tiny_base),
                        var_dir=root / "var", seed_data=data)
    version = train(settings, load_taxonomy(), [data], tiny_train_config(), progress=lambda _: None)
    return root / "models", data, version


def test_training_stores_the_reference_of_its_test_split(trained: tuple[Path, Path, str]) -> None:
    models, _, version = trained
    reference = load_reference(Registry(models), version)
    assert reference is not None
    metrics = json.loads((models / version / "metrics.json").read_text())
    assert reference["count"] == sum(reference["histogram"]) == metrics["test_examples"]
    assert reference["source"] == "test_split" and set(reference["languages"]) <= {"ru", "kk", "en"}
    assert sum(sum(h) for h in reference["languages"].values()) == reference["count"]


@pytest.fixture
def settings(settings: Settings, trained: tuple[Path, Path, str], tiny_base: Path) -> Settings:
    models, data, _ = trained
    shutil.copytree(models, settings.models_dir)  # each test changes its own copy
    return settings.model_copy(update={"base_model": str(tiny_base), "seed_data": data})


def test_a_version_without_a_reference_gets_one_from_the_frozen_held_out_set(
    ctx: Context, trained: tuple[Path, Path, str]
) -> None:
    version = trained[2]
    (ctx.settings.models_dir / version / REFERENCE).unlink()
    assert load_reference(Registry(ctx.settings.models_dir), version) is None
    result = compute_reference(ctx, version)
    assert result["computed"] is True
    reference = load_reference(Registry(ctx.settings.models_dir), version)
    assert reference is not None and reference["count"] == result["count"] > 0
    assert reference["source"] == "heldout" and len(reference["heldout_sha256"]) == 64
    # Idempotent: a second run keeps what is there.
    assert compute_reference(ctx, version)["computed"] is False
