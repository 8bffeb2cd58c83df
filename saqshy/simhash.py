"""Near-duplicate detection with 64-bit SimHash, so a reposted ad is reviewed once per cluster.

Features are words weighted by their count (short posts have few words: shingles would make a
one-word edit move too many bits). Two texts are near-duplicates when their SimHashes differ
in at most ``max_distance`` bits (8 of 64 by default: a two-word edit of a 20-word ad moves about
6 bits, unrelated texts differ in about 32, and two random hashes fall within 8 bits with
probability 2e-10).
"""

from __future__ import annotations

import hashlib
import re
from collections import Counter
from dataclasses import dataclass

import numpy as np

_WORD = re.compile(r"\w+", re.UNICODE)
_MAX_TOKENS = 3_000
_MASK64 = (1 << 64) - 1


# Word hashes are memoised: words follow Zipf's law, so most of a page's words were hashed on an
# earlier page. Cleared when full, so a long crawl's memory stays bounded.
_DIGESTS: dict[str, bytes] = {}
_DIGESTS_MAX = 200_000


def _digest(word: str) -> bytes:
    digest = _DIGESTS.get(word)
    if digest is None:
        if len(_DIGESTS) >= _DIGESTS_MAX:
            _DIGESTS.clear()
        digest = _DIGESTS[word] = hashlib.blake2b(word.encode(), digest_size=8).digest()
    return digest


def simhash(text: str) -> int | None:
    """Unsigned 64-bit SimHash of the text, or None when it has no words."""
    tokens = _WORD.findall(text.lower())[:_MAX_TOKENS]
    if not tokens:
        return None
    counts = Counter(tokens)
    digests = b"".join(map(_digest, counts))
    bits = np.unpackbits(np.frombuffer(digests, dtype=np.uint8)).reshape(-1, 64).astype(np.int64)
    weights = np.fromiter(counts.values(), dtype=np.int64, count=len(counts))
    # A bit is set when the words with it outweigh those without: sum(w * (2b - 1)) > 0.
    votes = weights @ bits
    return int.from_bytes(np.packbits(votes * 2 > int(weights.sum())).tobytes(), "big")


def to_signed(value: int) -> int:
    """Store an unsigned 64-bit hash in a signed BIGINT column."""
    return value - (1 << 64) if value >= 1 << 63 else value


def to_unsigned(value: int) -> int:
    return value & _MASK64


def hamming(a: int, b: int) -> int:
    return (a ^ b).bit_count()


@dataclass(frozen=True)
class Match:
    item_id: int
    cluster_id: int
    distance: int


class NearDupIndex:
    """SimHashes of known items in numpy arrays; a lookup is one vectorised XOR and popcount.

    A brute-force scan of 200,000 hashes takes well under a millisecond, and unlike band
    indexes it works for the wide distances short texts need.
    """

    def __init__(self, max_distance: int = 8) -> None:
        self.max_distance = max_distance
        self._hashes = np.zeros(1024, dtype=np.uint64)
        self._items = np.zeros(1024, dtype=np.int64)
        self._clusters = np.zeros(1024, dtype=np.int64)
        self._size = 0
        self._positions: dict[int, int] = {}

    def __len__(self) -> int:
        return self._size

    def add(self, item_id: int, value: int, cluster_id: int) -> None:
        """Add an item, or update it (its text changed) when it is already known."""
        position = self._positions.get(item_id)
        if position is not None:
            self._hashes[position] = np.uint64(to_unsigned(value))
            self._clusters[position] = cluster_id
            return
        if self._size == len(self._hashes):
            grow = len(self._hashes)
            self._hashes = np.concatenate([self._hashes, np.zeros(grow, dtype=np.uint64)])
            self._items = np.concatenate([self._items, np.zeros(grow, dtype=np.int64)])
            self._clusters = np.concatenate([self._clusters, np.zeros(grow, dtype=np.int64)])
        self._hashes[self._size] = np.uint64(to_unsigned(value))
        self._items[self._size] = item_id
        self._clusters[self._size] = cluster_id
        self._positions[item_id] = self._size
        self._size += 1

    def nearest(self, value: int, exclude: int | None = None) -> Match | None:
        if not self._size:
            return None
        distances = np.bitwise_count(self._hashes[: self._size] ^ np.uint64(to_unsigned(value)))
        if exclude is not None:
            distances = np.where(self._items[: self._size] == exclude, 64, distances)
        best = int(np.argmin(distances))
        distance = int(distances[best])
        if distance > self.max_distance:
            return None
        return Match(int(self._items[best]), int(self._clusters[best]), distance)
