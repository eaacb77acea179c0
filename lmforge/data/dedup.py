"""Deduplication keys and the global duplicate graph.

Per document: an exact key (xxh3-128 of the lower-cased text without whitespace/punctuation)
and a MinHash signature (lmforge.data.minhash). Globally: documents sharing an exact key, or an
LSH band whose pair is confirmed by estimated Jaccard >= threshold, are linked; in each connected
component the document with the smallest id (the first in input order) is kept. Each step is a
group-by on a key, so an engine can run it without the whole corpus on one machine.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import xxhash
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

from lmforge.data import charclass
from lmforge.data.minhash import band_hashes, bucket_pairs, jaccard, lsh_bands, minhasher
from lmforge.errors import UserError

DEFAULT_THRESHOLD = 0.6


def exact_key(text: str) -> tuple[int, int]:
    """128-bit hash (two uint64) of the text lower-cased without whitespace or punctuation."""
    a, b = exact_keys([text])[0]
    return int(a), int(b)


def exact_keys(texts: list[str]) -> np.ndarray:
    """(N, 2) uint64: `exact_key` of each text, the characters of a whole batch classified at once."""
    codes, bounds = charclass.codes_many([t.lower() for t in texts])
    word = (charclass.table()[codes] & charclass.WORD) != 0  # what `[\s\W_]+` does not remove
    kept, counts = codes[word], charclass.per_text(word, bounds)
    ends = np.cumsum(counts)
    out = np.zeros((len(texts), 2), dtype=np.uint64)
    for i, (start, end) in enumerate(zip(ends - counts, ends)):
        d = xxhash.xxh3_128_digest(kept[start:end].tobytes())
        out[i] = int.from_bytes(d[:8], "little"), int.from_bytes(d[8:], "little")
    return out


@dataclass(frozen=True)
class DedupSettings:
    threshold: float = DEFAULT_THRESHOLD
    num_perm: int = 128
    ngram: int = 5
    seed: int = 1

    def __post_init__(self) -> None:
        if not 0 < self.threshold <= 1:
            raise UserError(f"threshold must be in (0, 1], got {self.threshold}")

    @property
    def bands(self) -> tuple[int, int]:
        return lsh_bands(self.threshold, self.num_perm)


@dataclass
class DocKeys:
    """Per document of a shard: global id, exact key (N, 2) and MinHash signature (N, num_perm)."""

    ids: np.ndarray
    exact: np.ndarray
    sigs: np.ndarray

    @classmethod
    def of(cls, ids: list[int], texts: list[str], s: DedupSettings) -> "DocKeys":
        exact = exact_keys(texts)
        return cls(np.array(ids, dtype=np.uint64), exact,
                   minhasher(s.num_perm, s.ngram, s.seed).signatures(texts))

    @classmethod
    def concat(cls, parts: list["DocKeys"], num_perm: int) -> "DocKeys":
        if not parts:
            return cls(np.zeros(0, np.uint64), np.zeros((0, 2), np.uint64), np.zeros((0, num_perm), np.uint32))
        return cls(*(np.concatenate([getattr(p, f) for p in parts]) for f in ("ids", "exact", "sigs")))


def confirmed(a: np.ndarray, b: np.ndarray, ids: np.ndarray, sigs: np.ndarray,
              threshold: float) -> tuple[np.ndarray, np.ndarray]:
    """The pairs whose estimated Jaccard is >= threshold (`ids` sorted, rows of `sigs`)."""
    ok = similar(a, b, ids, sigs, threshold)
    return a[ok], b[ok]


def similar(a: np.ndarray, b: np.ndarray, ids: np.ndarray, sigs: np.ndarray, threshold: float) -> np.ndarray:
    """For each pair a[i]-b[i]: is its estimated Jaccard >= threshold (`ids` sorted, rows of `sigs`)."""
    return jaccard(sigs[np.searchsorted(ids, a)], sigs[np.searchsorted(ids, b)]) >= threshold


def near_pairs(keys: DocKeys, s: DedupSettings) -> tuple[np.ndarray, np.ndarray]:
    """Confirmed near-duplicate pairs: candidates from each LSH band, checked by Jaccard."""
    bands, rows = s.bands
    bh = band_hashes(keys.sigs, bands, rows)
    cand = [bucket_pairs(bh[:, j], keys.ids) for j in range(bands)]
    pairs = np.unique(np.stack([np.concatenate([a for a, _ in cand]), np.concatenate([b for _, b in cand])], 1),
                      axis=0) if cand else np.zeros((0, 2), np.uint64)
    return confirmed(pairs[:, 0], pairs[:, 1], keys.ids, keys.sigs, s.threshold)


def first_of_components(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Ids linked by edges a-b that are not the smallest id of their connected component
    (only documents with an edge are looked at, so this scales with the duplicates)."""
    nodes = np.unique(np.concatenate([a, b]))
    if not len(nodes):
        return nodes
    n = len(nodes)
    graph = coo_matrix((np.ones(len(a), dtype=np.int8), (np.searchsorted(nodes, a), np.searchsorted(nodes, b))),
                       shape=(n, n))
    _, label = connected_components(graph, directed=False)
    first = np.full(label.max() + 1, n)
    np.minimum.at(first, label, np.arange(n))
    return nodes[first[label] != np.arange(n)]


@dataclass
class Duplicates:
    """Ids dropped as exact duplicates and as near duplicates (sorted arrays)."""

    exact: np.ndarray
    near: np.ndarray

    @classmethod
    def from_edges(cls, exact: tuple[np.ndarray, np.ndarray], near: tuple[np.ndarray, np.ndarray]) -> "Duplicates":
        gone = first_of_components(np.concatenate([exact[0], near[0]]), np.concatenate([exact[1], near[1]]))
        exact_ids = np.unique(exact[1])
        return cls(exact_ids, np.setdiff1d(gone, exact_ids))

    def all(self) -> np.ndarray:
        return np.union1d(self.exact, self.near)


def find_duplicates(keys: DocKeys, s: DedupSettings, near: bool = True) -> Duplicates:
    """Exact and near duplicates among all documents of `keys` (ids in input order)."""
    order = np.argsort(keys.ids, kind="stable")
    keys = DocKeys(keys.ids[order], keys.exact[order], keys.sigs[order])
    exact = bucket_pairs(keys.exact, keys.ids)
    empty = (keys.ids[:0], keys.ids[:0])
    return Duplicates.from_edges(exact, near_pairs(keys, s) if near else empty)


def duplicate_flags(texts: list[str], s: DedupSettings | None = None) -> tuple[np.ndarray, np.ndarray]:
    """For a list of texts: (is exact duplicate, is near duplicate) of an earlier text."""
    s = s or DedupSettings()
    keys = DocKeys.of(list(range(len(texts))), texts, s)
    dup = find_duplicates(keys, s)
    return np.isin(keys.ids, dup.exact), np.isin(keys.ids, dup.near)
