from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from classifier.errors import TaxonomyError
from classifier.taxonomy import DEFAULT_TAXONOMY_PATH, LANGUAGES, load_taxonomy, parse_taxonomy

REQUIRED = {"drugs", "fraud", "gambling", "extremism", "suicide", "weapons", "personal_data"}


def _doc() -> dict:
    return tomllib.loads(DEFAULT_TAXONOMY_PATH.read_text(encoding="utf-8"))


def test_packaged_taxonomy_has_required_categories() -> None:
    tax = load_taxonomy()
    assert set(tax.names) >= REQUIRED
    for category in tax:
        assert set(category.description) == set(LANGUAGES)
        assert category.criminal_code
        assert 0 < category.threshold < 1


def test_names_keep_file_order() -> None:
    doc = _doc()
    assert load_taxonomy().names == tuple(c["name"] for c in doc["category"])


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda d: d["category"][0].update(colour="red"), "unknown key"),
        (lambda d: d["category"][0].update(severity="extreme"), "severity"),
        (lambda d: d["category"][0].update(threshold=1.5), "threshold"),
        (lambda d: d["category"][0].update(threshold=True), "threshold"),
        (lambda d: d["category"][0]["description"].pop("kk"), "description.kk"),
        (lambda d: d["category"][0]["description"].update(de="x"), "unknown language"),
        (lambda d: d["category"][0].update(criminal_code=[]), "at least one article"),
        (lambda d: d["category"][0].update(criminal_code=["art 5"]), "invalid article"),
        (lambda d: d["category"][0].update(name="Drugs!"), "'name'"),
        (lambda d: d["category"].append(dict(d["category"][0])), "defined twice"),
        (lambda d: d["category"][0].pop("severity"), "missing key"),
        (lambda d: d.update(schema_version=2), "schema_version"),
        (lambda d: d.update(category=[]), "no categories"),
    ],
)
def test_invalid_entries_are_rejected_with_a_clear_message(mutate, message: str) -> None:
    doc = _doc()
    mutate(doc)
    with pytest.raises(TaxonomyError, match=message):
        parse_taxonomy(doc, source="test.toml")


def test_unknown_category_name() -> None:
    tax = load_taxonomy()
    with pytest.raises(TaxonomyError, match="unknown category 'porn'"):
        tax["porn"]
    with pytest.raises(TaxonomyError, match="'narcotics'"):
        tax.validate_names(["drugs", "narcotics"])
    tax.validate_names(["drugs", "fraud"])


def test_bad_files(tmp_path: Path) -> None:
    with pytest.raises(TaxonomyError, match="cannot be read"):
        load_taxonomy(tmp_path / "missing.toml")
    broken = tmp_path / "broken.toml"
    broken.write_text("[[category]\nname = ", encoding="utf-8")
    with pytest.raises(TaxonomyError, match="not valid TOML"):
        load_taxonomy(broken)


def test_adding_a_category_is_a_data_change(tmp_path: Path) -> None:
    text = DEFAULT_TAXONOMY_PATH.read_text(encoding="utf-8")
    text += """
[[category]]
name = "counterfeit"
severity = "medium"
threshold = 0.6
criminal_code = ["222"]
[category.label]
ru = "Контрафакт"
kk = "Контрафакт"
en = "Counterfeit"
[category.description]
ru = "Продажа поддельных товаров."
kk = "Жалған тауарларды сату."
en = "Selling counterfeit goods."
"""
    path = tmp_path / "taxonomy.toml"
    path.write_text(text, encoding="utf-8")
    tax = load_taxonomy(path)
    assert tax.names[-1] == "counterfeit"
    assert tax["counterfeit"].administrative_code == ()
