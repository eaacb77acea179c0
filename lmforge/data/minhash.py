"""MinHash signatures, LSH bands and candidate pairs, vectorised with numpy.

A signature is one-permutation hashing (Li, Owen & Zhang 2012) with optimal densification
(Shrivastava 2017): each character n-gram is hashed once (64 bits), the top bits pick one of
`num_perm` bins and a bin keeps its smallest hash; an empty bin copies the bin that a fixed
random probe sequence finds first. Two signatures agree in a bin with probability equal to the
Jaccard similarity of the n-gram sets, like `num_perm` classic permutations, at the cost of one
hash and one sort per document instead of `num_perm` hashes per n-gram. A bin keeps 32 bits of
its smallest hash (those just below the bin index); a batch of documents is hashed and sorted
in one go.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

from lmforge.errors import UserError

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
    return ngram_hashes_many([text], n)[0]


def ngram_hashes_many(texts: list[str], n: int) -> tuple[np.ndarray, np.ndarray]:
    """(hashes, bounds): `ngram_hashes` of several texts in one pass over their joined code
    points; text i's hashes are hashes[bounds[i]:bounds[i + 1]]."""
    lens = np.fromiter(map(len, texts), dtype=np.int64, count=len(texts))
    if (lens < n).any():
        texts = [t + "\0" * (n - len(t)) for t in texts]
        lens = np.maximum(lens, n)
    codes = np.frombuffer("".join(texts).encode("utf-32-le", "surrogatepass"), dtype=np.uint32).astype(np.uint64)
    m = len(codes) - n + 1
    h = codes[:m].copy()
    for k in range(1, n):  # in place: no temporaries the size of the batch
        h *= _PRIME
        h += codes[k:m + k]
    counts = lens - n + 1
    bounds = np.zeros(len(texts) + 1, dtype=np.int64)
    np.cumsum(counts, out=bounds[1:])
    if len(texts) > 1:  # drop the n - 1 windows that run from one text into the next
        starts = np.cumsum(lens) - lens
        run = np.repeat(starts, counts) + np.arange(bounds[-1]) - np.repeat(bounds[:-1], counts)
        h = h[run]
    return _fmix(h), bounds


def batches(texts: list[str], max_chars: int = 1 << 17) -> list[tuple[int, int]]:
    """(start, end) index ranges of about `max_chars` characters: big enough to amortize numpy's
    per-call cost, small enough that a batch's arrays stay in the CPU cache."""
    spans, start, size = [], 0, 0
    for i, t in enumerate(texts):
        size += len(t)
        if size >= max_chars:
            spans.append((start, i + 1))
            start, size = i + 1, 0
    if start < len(texts):
        spans.append((start, len(texts)))
    return spans


def shingle_text(text: str) -> str:
    """What shingles are taken from: the lower-cased text with whitespace runs as one space."""
    return " ".join(text.lower().split())  # str.split's whitespace is regex \s; 2x faster than re.sub


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

    def signature(self, text: str) -> np.ndarray:
        return self.signatures([text])[0]

    def signatures(self, texts: list[str]) -> np.ndarray:
        """(len(texts), num_perm) uint32, a batch of texts at a time."""
        out = np.zeros((len(texts), self.num_perm), dtype=np.uint32)
        for lo, hi in batches(texts):
            h, bounds = ngram_hashes_many([shingle_text(t) for t in texts[lo:hi]], self.ngram)
            out[lo:hi] = self._densified(*self._bin_minima(h ^ self._salt, bounds))
        return out

    def _bin_minima(self, h: np.ndarray, bounds: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Per text and bin: the smallest hash's 32 bits below the bin index, and whether the
        bin has any n-gram. One sort of (text, bin, value) keys for the whole batch."""
        texts, bits = len(bounds) - 1, self.num_perm.bit_length() - 1
        text = np.repeat(np.arange(texts, dtype=np.uint64), np.diff(bounds))
        keys = np.sort((text << np.uint64(bits + 32)) | (h >> np.uint64(32 - bits)))
        group = keys >> np.uint64(32)
        first = np.ones(len(keys), dtype=bool)
        first[1:] = group[1:] != group[:-1]
        cells = group[first].astype(np.int64)
        sig = np.zeros(texts * self.num_perm, dtype=np.uint32)
        full = np.zeros(texts * self.num_perm, dtype=bool)
        sig[cells] = (keys[first] & np.uint64(0xFFFFFFFF)).astype(np.uint32)
        full[cells] = True
        return sig.reshape(texts, self.num_perm), full.reshape(texts, self.num_perm)

    def _densified(self, sig: np.ndarray, full: np.ndarray) -> np.ndarray:
        """An empty bin copies the first full bin on its probe sequence (else the text's first full bin)."""
        doc, empty = np.nonzero(~full)
        if len(doc):
            probes = self._probe[empty]
            ok = full[doc[:, None], probes]
            pick = np.where(ok.any(1), probes[np.arange(len(doc)), ok.argmax(1)], full.argmax(1)[doc])
            sig[doc, empty] = sig[doc, pick]
        return sig


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
