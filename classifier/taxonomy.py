"""The category taxonomy, read from a TOML data file and validated.

Light on purpose (standard library only): the store and the API import it to validate category names.

    >>> from classifier.taxonomy import load_taxonomy
    >>> tax = load_taxonomy()
    >>> tax.names            # ('drugs', 'fraud', ...) in file order: the model's output order
    >>> tax["drugs"].threshold
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from classifier.errors import TaxonomyError

DEFAULT_TAXONOMY_PATH = Path(__file__).resolve().parent / "taxonomy.toml"
LANGUAGES: tuple[str, ...] = ("ru", "kk", "en")
SEVERITIES: tuple[str, ...] = ("low", "medium", "high", "critical")
SCHEMA_VERSION = 1

_NAME_RE = re.compile(r"^[a-z][a-z0-9_]{0,63}$")
# "297", "299-1" (an article inserted later), "190.2" would be a part: accept digits with - or .
_ARTICLE_RE = re.compile(r"^[0-9]{1,4}(?:[-.][0-9]{1,3})?$")
_CATEGORY_KEYS = {
    "name",
    "severity",
    "threshold",
    "label",
    "description",
    "criminal_code",
    "administrative_code",
}
_REQUIRED_KEYS = _CATEGORY_KEYS - {"administrative_code"}


@dataclass(frozen=True, slots=True)
class Category:
    name: str
    severity: str
    threshold: float
    label: Mapping[str, str]
    description: Mapping[str, str]
    criminal_code: tuple[str, ...]
    administrative_code: tuple[str, ...]

    @property
    def severity_rank(self) -> int:
        """0 for low ... 3 for critical: sorts the review queue on ties."""
        return SEVERITIES.index(self.severity)

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "severity": self.severity,
            "threshold": self.threshold,
            "label": dict(self.label),
            "description": dict(self.description),
            "criminal_code": list(self.criminal_code),
            "administrative_code": list(self.administrative_code),
        }


@dataclass(frozen=True, slots=True)
class Taxonomy:
    categories: tuple[Category, ...]
    source: str = "<memory>"

    @property
    def names(self) -> tuple[str, ...]:
        """Category names in file order, which is also the order of the model's outputs."""
        return tuple(c.name for c in self.categories)

    def __getitem__(self, name: str) -> Category:
        for category in self.categories:
            if category.name == name:
                return category
        raise TaxonomyError(f"unknown category {name!r}; known: {', '.join(self.names)}")

    def __contains__(self, name: object) -> bool:
        return any(c.name == name for c in self.categories)

    def __iter__(self) -> Iterator[Category]:
        return iter(self.categories)

    def __len__(self) -> int:
        return len(self.categories)

    def validate_names(self, names: Iterator[str] | list[str] | tuple[str, ...] | set[str]) -> None:
        """Raise TaxonomyError naming every unknown category (for labels in data files, API input)."""
        unknown = sorted({n for n in names if n not in self})
        if unknown:
            raise TaxonomyError(
                f"unknown categor{'y' if len(unknown) == 1 else 'ies'} {', '.join(map(repr, unknown))}; "
                f"known: {', '.join(self.names)}"
            )

    def thresholds(self) -> dict[str, float]:
        return {c.name: c.threshold for c in self.categories}


def _fail(where: str, message: str) -> TaxonomyError:
    return TaxonomyError(f"{where}: {message}")


def _languages(where: str, key: str, value: object) -> dict[str, str]:
    if not isinstance(value, dict):
        raise _fail(where, f"'{key}' must be a table with keys {', '.join(LANGUAGES)}")
    extra = sorted(set(value) - set(LANGUAGES))
    if extra:
        raise _fail(where, f"'{key}' has unknown language(s) {', '.join(extra)}; expected {LANGUAGES}")
    out: dict[str, str] = {}
    for lang in LANGUAGES:
        text = value.get(lang)
        if not isinstance(text, str) or not text.strip():
            raise _fail(where, f"'{key}.{lang}' must be a non-empty string")
        out[lang] = text.strip()
    return out


def _articles(where: str, key: str, value: object, *, required: bool) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(a, str) for a in value):
        raise _fail(where, f'\'{key}\' must be a list of article numbers as strings, e.g. ["297", "299-1"]')
    if required and not value:
        raise _fail(where, f"'{key}' must name at least one article")
    for article in value:
        if not _ARTICLE_RE.match(article):
            raise _fail(where, f"'{key}' has an invalid article number {article!r}")
    return tuple(value)


def _category(index: int, raw: object) -> Category:
    where = f"category #{index + 1}"
    if not isinstance(raw, dict):
        raise _fail(where, "must be a table")
    name = raw.get("name")
    if isinstance(name, str):
        where = f"category {name!r}"
    unknown = sorted(set(raw) - _CATEGORY_KEYS)
    if unknown:
        raise _fail(where, f"unknown key(s) {', '.join(unknown)}; allowed: {', '.join(sorted(_CATEGORY_KEYS))}")
    missing = sorted(_REQUIRED_KEYS - set(raw))
    if missing:
        raise _fail(where, f"missing key(s) {', '.join(missing)}")
    if not isinstance(name, str) or not _NAME_RE.match(name):
        raise _fail(where, "'name' must match [a-z][a-z0-9_]* (at most 64 characters)")
    severity = raw["severity"]
    if severity not in SEVERITIES:
        raise _fail(where, f"'severity' must be one of {', '.join(SEVERITIES)}, not {severity!r}")
    threshold = raw["threshold"]
    if isinstance(threshold, bool) or not isinstance(threshold, int | float) or not 0.0 < threshold < 1.0:
        raise _fail(where, f"'threshold' must be a number strictly between 0 and 1, not {threshold!r}")
    return Category(
        name=name,
        severity=severity,
        threshold=float(threshold),
        label=_languages(where, "label", raw["label"]),
        description=_languages(where, "description", raw["description"]),
        criminal_code=_articles(where, "criminal_code", raw["criminal_code"], required=True),
        administrative_code=_articles(where, "administrative_code", raw.get("administrative_code", []), required=False),
    )


def parse_taxonomy(data: Mapping[str, Any], source: str = "<memory>") -> Taxonomy:
    """Validate an already-parsed TOML document."""
    try:
        unknown = sorted(set(data) - {"schema_version", "category"})
        if unknown:
            raise TaxonomyError(f"unknown top-level key(s) {', '.join(unknown)}")
        version = data.get("schema_version")
        if version != SCHEMA_VERSION:
            raise TaxonomyError(f"schema_version must be {SCHEMA_VERSION}, not {version!r}")
        raw = data.get("category")
        if not isinstance(raw, list) or not raw:
            raise TaxonomyError("no categories: add at least one [[category]] table")
        categories = tuple(_category(i, entry) for i, entry in enumerate(raw))
        seen: set[str] = set()
        for category in categories:
            if category.name in seen:
                raise TaxonomyError(f"category {category.name!r} is defined twice")
            seen.add(category.name)
    except TaxonomyError as exc:
        raise TaxonomyError(f"invalid taxonomy {source}: {exc}") from None
    return Taxonomy(categories=categories, source=source)


def load_taxonomy(path: Path | str | None = None) -> Taxonomy:
    """Load and validate the taxonomy file (the packaged one when ``path`` is None); cached per path."""
    resolved = Path(path).resolve() if path is not None else DEFAULT_TAXONOMY_PATH
    try:
        stamp = resolved.stat().st_mtime_ns
    except OSError as exc:
        raise TaxonomyError(f"taxonomy file {resolved} cannot be read: {exc.strerror}") from None
    return _load_cached(resolved, stamp)


@lru_cache(maxsize=8)
def _load_cached(path: Path, _mtime_ns: int) -> Taxonomy:
    try:
        with path.open("rb") as fh:
            data = tomllib.load(fh)
    except OSError as exc:
        raise TaxonomyError(f"taxonomy file {path} cannot be read: {exc.strerror}") from None
    except tomllib.TOMLDecodeError as exc:
        raise TaxonomyError(f"taxonomy file {path} is not valid TOML: {exc}") from None
    except UnicodeDecodeError:
        raise TaxonomyError(f"taxonomy file {path} is not valid UTF-8") from None
    return parse_taxonomy(data, source=str(path))


def category_names(path: Path | str | None = None) -> tuple[str, ...]:
    """The category names, in model output order."""
    return load_taxonomy(path).names
