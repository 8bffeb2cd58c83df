"""Labeled examples: reading JSONL files, validating them against the taxonomy, splitting, hashing.

A record is one JSON object per line::

    {"id": "drugs-ru-001", "text": "...", "lang": "ru", "labels": ["drugs"],
     "kind": "positive", "group": "drugs-ru-001"}

``labels`` lists categories (empty = legal). ``kind`` is one of KINDS; hard negatives and evasions
form the "hard" evaluation slice. ``group`` ties variants of one text together so that they always
fall into the same split (no leakage from an evasion into its source's test split). An optional
``split`` pins the record's split (exported reviews are split by time and cluster, not by hash);
``cluster`` names a near-duplicate cluster, which counts once in training.
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from classifier.errors import InvalidInputError
from classifier.taxonomy import Taxonomy

KINDS = ("positive", "negative", "hard_negative", "evasion", "evasion_negative")
HARD_KINDS = ("hard_negative", "evasion", "evasion_negative")
LANGS = ("ru", "kk", "en", "mixed", "other")
SPLITS = ("train", "calibration", "test")
DEFAULT_SEED_DIR = Path(__file__).resolve().parent.parent / "data" / "seed"
# share of groups per split: the held-out test split is never seen by training or calibration
SPLIT_SHARES = {"test": 0.2, "calibration": 0.2}


@dataclass(frozen=True)
class Example:
    id: str
    text: str
    labels: tuple[str, ...]
    lang: str = "other"
    kind: str = "positive"
    group: str = ""
    assigned_split: str = ""
    cluster: str = ""
    extra: dict[str, object] = field(default_factory=dict, compare=False, hash=False)

    @property
    def is_illegal(self) -> bool:
        return bool(self.labels)

    @property
    def is_hard(self) -> bool:
        return self.kind in HARD_KINDS

    @property
    def split(self) -> str:
        return self.assigned_split or split_of(self.group or self.id)


def split_of(group: str) -> str:
    """Deterministic split from the group's hash: stable across runs, machines and file order."""
    bucket = int.from_bytes(hashlib.sha256(group.encode("utf-8")).digest()[:8], "big") / 2**64
    if bucket < SPLIT_SHARES["test"]:
        return "test"
    if bucket < SPLIT_SHARES["test"] + SPLIT_SHARES["calibration"]:
        return "calibration"
    return "train"


def _parse_line(raw: bytes, where: str, taxonomy: Taxonomy) -> Example:
    try:
        line = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InvalidInputError(f"{where}: not valid UTF-8 (byte {exc.start})") from None
    try:
        obj = json.loads(line)
    except json.JSONDecodeError as exc:
        raise InvalidInputError(f"{where}: not valid JSON ({exc.msg})") from None
    if not isinstance(obj, dict):
        raise InvalidInputError(f"{where}: expected a JSON object")
    ident, text, labels = obj.get("id"), obj.get("text"), obj.get("labels", [])
    if not isinstance(ident, str | int) or isinstance(ident, bool) or str(ident) == "":
        raise InvalidInputError(f"{where}: 'id' must be a non-empty string or integer")
    if not isinstance(text, str):
        raise InvalidInputError(f"{where}: 'text' must be a string")
    if not isinstance(labels, list) or not all(isinstance(x, str) for x in labels):
        raise InvalidInputError(f"{where}: 'labels' must be a list of category names")
    unknown = [x for x in labels if x not in taxonomy]
    if unknown:
        raise InvalidInputError(
            f"{where}: unknown categor{'y' if len(unknown) == 1 else 'ies'} {', '.join(map(repr, unknown))}; "
            f"known: {', '.join(taxonomy.names)}"
        )
    kind = obj.get("kind", "positive" if labels else "negative")
    if kind not in KINDS:
        raise InvalidInputError(f"{where}: 'kind' must be one of {', '.join(KINDS)}")
    lang = obj.get("lang", "other")
    if lang not in LANGS:
        raise InvalidInputError(f"{where}: 'lang' must be one of {', '.join(LANGS)}")
    split = obj.get("split", "")
    if split not in ("", *SPLITS):
        raise InvalidInputError(f"{where}: 'split' must be one of {', '.join(SPLITS)}")
    cluster = obj.get("cluster", "")
    if not isinstance(cluster, str):
        raise InvalidInputError(f"{where}: 'cluster' must be a string")
    known = {"id", "text", "labels", "kind", "lang", "group", "split", "cluster"}
    return Example(
        id=str(ident),
        text=text,
        labels=tuple(dict.fromkeys(labels)),
        lang=lang,
        kind=kind,
        group=str(obj.get("group") or ident),
        assigned_split=split,
        cluster=cluster,
        extra={k: v for k, v in obj.items() if k not in known},
    )


def read_examples(paths: Iterable[Path], taxonomy: Taxonomy) -> list[Example]:
    """Read and validate JSONL files; a directory means all ``*.jsonl`` in it, sorted."""
    files: list[Path] = []
    for path in paths:
        if path.is_dir():
            files.extend(sorted(path.glob("*.jsonl")))
        elif path.is_file():
            files.append(path)
        else:
            raise InvalidInputError(f"no such data file or directory: {path}")
    if not files:
        raise InvalidInputError("no .jsonl data files found")
    examples: list[Example] = []
    seen: set[str] = set()
    for file in files:
        with file.open("rb") as fh:
            for number, raw in enumerate(fh, 1):
                if not raw.strip():
                    continue
                example = _parse_line(raw, f"{file}:{number}", taxonomy)
                if example.id in seen:
                    raise InvalidInputError(f"{file}:{number}: duplicate id {example.id!r}")
                seen.add(example.id)
                examples.append(example)
    if not examples:
        raise InvalidInputError("the data files hold no examples")
    return examples


def data_hash(examples: Sequence[Example]) -> str:
    """SHA-256 over the examples' content, independent of file layout and order."""
    digest = hashlib.sha256()
    for ex in sorted(examples, key=lambda e: e.id):
        record: list[object] = [ex.id, ex.text, sorted(ex.labels), ex.lang, ex.kind, ex.group]
        if ex.assigned_split or ex.cluster:  # only then: the seed set's hash stays what it was
            record += [ex.assigned_split, ex.cluster]
        digest.update(json.dumps(record, ensure_ascii=False).encode("utf-8"))
        digest.update(b"\n")
    return digest.hexdigest()


def dedupe_clusters(examples: Sequence[Example]) -> list[Example]:
    """One example per near-duplicate cluster (its first in file order), so a cluster counts once."""
    seen: set[str] = set()
    kept = []
    for ex in examples:
        if ex.cluster:
            if ex.cluster in seen:
                continue
            seen.add(ex.cluster)
        kept.append(ex)
    return kept


def describe(examples: Sequence[Example]) -> dict[str, object]:
    """Counts for the dataset card and the model card."""
    return {
        "examples": len(examples),
        "illegal": sum(e.is_illegal for e in examples),
        "by_split": dict(Counter(e.split for e in examples)),
        "by_lang": dict(Counter(e.lang for e in examples)),
        "by_kind": dict(Counter(e.kind for e in examples)),
        "by_category": dict(Counter(label for e in examples for label in e.labels)),
    }
