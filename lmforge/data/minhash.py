"""MinHash signatures, LSH bands and candidate pairs, vectorised with numpy.

A signature is one-permutation hashing (Li, Owen & Zhang 2012) with optimal densification
(Shrivastava 2017): each character n-gram is hashed once (64 bits), the top bits pick one of
`num_perm` bins and a bin keeps its smallest hash; an empty bin copies the bin that a fixed
random probe sequence finds first. Two signatures agree in a bin with probability equal to the
Jaccard similarity of the n-gram sets, like `num_perm` classic permutations, at the cost of one
hash and one sort per document instead of `num_perm` hashes per n-gram.
"""

from __future__ import annotations

import re
from functools import lru_cache

import numpy as np

from lmforge.errors import UserError

_SPACES = re.compile(r"\s+")
_PRIME = np.uint64(0x100000001B3)
_PROBES = 64  # densification attempts before falling back to the first full bin


def _fmix(h: np.ndarray) -> np.ndarray:
    """murmur3's 64-bit finaliser: spreads a polynomial hash over all bits."""
    h ^= h >> np.uint64(33)
    h *= np.uint64(0xFF51AFD7ED558CCD)
    h ^= h >> np.uint64(33)
    h *= np.uint64(0xC4CEB9FE1A85EC53)
    h ^= h >> np.uint64(33)
    return h


def ngram_hashes(text: str, n: int) -> np.ndarray:
    """A 64-bit hash of the character n-gram at every position (texts shorter than n are padded)."""
    codes = np.frombuffer(text.encode("utf-32-le"), dtype=np.uint32).astype(np.uint64)
    if len(codes) < n:
        codes = np.concatenate([codes, np.zeros(n - len(codes), dtype=np.uint64)])
    h = np.zeros(len(codes) - n + 1, dtype=np.uint64)
    for k in range(n):
        h = h * _PRIME + codes[k:len(codes) - n + 1 + k]
    return _fmix(h)


def shingle_text(text: str) -> str:
    """What shingles are taken from: the lower-cased text with whitespace runs as one space."""
    return _SPACES.sub(" ", text.lower()).strip()


class MinHasher:
    """`signature(text)`: `num_perm` uint32 values; equal bins estimate the n-gram Jaccard."""

    def __init__(self, num_perm: int = 128, ngram: int = 5, seed: int = 1) -> None:
        if num_perm < 16 or num_perm & (num_perm - 1):
            raise UserError(f"num_perm must be a power of two >= 16, got {num_perm}")
        if ngram < 1:
            raise UserError(f"ngram must be >= 1, got {ngram}")
        self.num_perm, self.ngram, self.seed = num_perm, ngram, seed
        rng = np.random.default_rng(seed)
        self._salt = rng.integers(0, 2**63, dtype=np.uint64)
        self._probe = rng.integers(0, num_perm, size=(num_perm, _PROBES))
        bits = num_perm.bit_length() - 1
        self._starts = np.arange(num_perm, dtype=np.uint64) << np.uint64(64 - bits)

    def signature(self, text: str) -> np.ndarray:
        h = np.sort(ngram_hashes(shingle_text(text), self.ngram) ^ self._salt)  # the seed's member of the family
        first = np.searchsorted(h, self._starts)
        full = first < np.append(first[1:], len(h))
        sig = np.zeros(self.num_perm, dtype=np.uint32)
        sig[full] = (h[first[full]] & np.uint64(0xFFFFFFFF)).astype(np.uint32)
        empty = np.flatnonzero(~full)
        if len(empty):
            probes = self._probe[empty]
            ok = full[probes]
            pick = np.where(ok.any(1), probes[np.arange(len(empty)), ok.argmax(1)], np.flatnonzero(full)[0])
            sig[empty] = sig[pick]
        return sig

    def signatures(self, texts: list[str]) -> np.ndarray:
        out = np.zeros((len(texts), self.num_perm), dtype=np.uint32)
        for i, t in enumerate(texts):
            out[i] = self.signature(t)
        return out


@lru_cache(maxsize=4)
def minhasher(num_perm: int = 128, ngram: int = 5, seed: int = 1) -> MinHasher:
    """One MinHasher per setting and process (workers build theirs once)."""
    return MinHasher(num_perm, ngram, seed)


def jaccard(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Estimated Jaccard similarity of signature rows a[i] and b[i]."""
    return (a == b).mean(axis=-1)


@lru_cache(maxsize=16)
def lsh_bands(threshold: float, num_perm: int, fn_weight: float = 0.9) -> tuple[int, int]:
    """(bands, rows) minimising the weighted area of false positives and false negatives of
    the S-curve 1 - (1 - J^rows)^bands around `threshold` (tuned for recall: candidates are
    confirmed against the threshold afterwards)."""
    x = np.linspace(0, 1, 2001)
    best, best_cost = (1, num_perm), float("inf")
    for rows in range(1, num_perm + 1):
        if num_perm % rows:
            continue
        p = 1 - (1 - x ** rows) ** (num_perm // rows)
        cost = (1 - fn_weight) * p[x < threshold].sum() + fn_weight * (1 - p[x >= threshold]).sum()
        if cost < best_cost:
            best, best_cost = (num_perm // rows, rows), cost
    return best


def band_hashes(sigs: np.ndarray, bands: int, rows: int) -> np.ndarray:
    """(N, bands) uint64: one hash per band of `rows` signature values."""
    cols = sigs[:, :bands * rows].reshape(len(sigs), bands, rows).astype(np.uint64)
    h = np.zeros((len(sigs), bands), dtype=np.uint64)
    for j in range(rows):
        h = _fmix(h * _PRIME + cols[:, :, j] + np.uint64(1))
    return h


def bucket_pairs(keys: np.ndarray, ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Candidate pairs (a < b) among documents that share a key: in each bucket, every member
    with the bucket's first document and with the one before it (in id order)."""
    if len(ids) < 2:
        return ids[:0], ids[:0]
    keys = keys.reshape(len(keys), -1)
    order = np.lexsort((ids, *keys.T[::-1]))
    k, s = keys[order], ids[order]
    same = np.zeros(len(s), dtype=bool)
    same[1:] = (k[1:] == k[:-1]).all(axis=1)
    idx = np.arange(len(s))
    start = np.maximum.accumulate(np.where(same, 0, idx))
    star = same & (start != idx - 1)
    prev = np.flatnonzero(same)
    return (np.concatenate([s[prev - 1], s[start[star]]]), np.concatenate([s[prev], s[star]]))
