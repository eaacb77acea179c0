"""Deduplication: exact (normalised hash) and near-duplicate (MinHash LSH on character 5-grams)."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass

import numpy as np
from datasketch import MinHash, MinHashLSH

from lmforge.errors import UserError

_SPACE_PUNCT = re.compile(r"[\s\W_]+", re.UNICODE)


def normalized_hash(text: str) -> str:
    """Hash of the text lower-cased without whitespace or punctuation."""
    return hashlib.blake2b(_SPACE_PUNCT.sub("", text.lower()).encode(), digest_size=16).hexdigest()


def shingle_hashes(text: str, n: int = 5) -> np.ndarray:
    """32-bit hashes of the character n-grams of the whitespace-collapsed, lower-cased text.

    Vectorised (polynomial hash of code points + a 64-bit mixer) because hashing each shingle
    with sha1 in Python, as datasketch does by default, dominated dedup time.
    """
    compact = re.sub(r"\s+", " ", text.lower()).strip()
    codes = np.frombuffer(compact.encode("utf-32-le"), dtype=np.uint32).astype(np.uint64)
    if len(codes) < n:
        codes = np.concatenate([codes, np.zeros(n - len(codes), dtype=np.uint64)])
    h = np.zeros(len(codes) - n + 1, dtype=np.uint64)
    for k in range(n):
        h = h * np.uint64(0x100000001B3) + codes[k:len(codes) - n + 1 + k]
    h ^= h >> np.uint64(33)  # murmur3 fmix64: spreads the polynomial hash over all bits
    h *= np.uint64(0xFF51AFD7ED558CCD)
    h ^= h >> np.uint64(33)
    h *= np.uint64(0xC4CEB9FE1A85EC53)
    h ^= h >> np.uint64(33)
    return np.unique(h >> np.uint64(32))


@dataclass
class DedupStats:
    docs_in: int = 0
    exact_duplicates: int = 0
    near_duplicates: int = 0

    @property
    def docs_out(self) -> int:
        return self.docs_in - self.exact_duplicates - self.near_duplicates


class Deduplicator:
    """Keeps the first of each group of duplicates, streaming: `keep(text)` says whether it's new."""

    def __init__(self, threshold: float = 0.8, num_perm: int = 128, ngram: int = 5,
                 exact: bool = True, near: bool = True, seed: int = 1):
        if not 0 < threshold <= 1:
            raise UserError(f"threshold must be in (0, 1], got {threshold}")
        self.exact, self.near, self.ngram, self.num_perm, self.seed = exact, near, ngram, num_perm, seed
        # LSH bands tuned for recall; candidates are then checked against the threshold
        self.lsh = MinHashLSH(threshold=threshold, num_perm=num_perm, weights=(0.1, 0.9))
        self.threshold = threshold
        self.signatures: dict[str, MinHash] = {}
        self.hashes: set[str] = set()
        self.stats = DedupStats()

    def minhash(self, text: str) -> MinHash:
        m = MinHash(num_perm=self.num_perm, seed=self.seed, hashfunc=int)
        m.update_batch(shingle_hashes(text, self.ngram).tolist())
        return m

    def keep(self, text: str) -> bool:
        self.stats.docs_in += 1
        if self.exact:
            h = normalized_hash(text)
            if h in self.hashes:
                self.stats.exact_duplicates += 1
                return False
            self.hashes.add(h)
        if self.near:
            m = self.minhash(text)
            if any(self.signatures[k].jaccard(m) >= self.threshold for k in self.lsh.query(m)):
                self.stats.near_duplicates += 1
                return False
            key = str(self.stats.docs_in)
            self.lsh.insert(key, m)
            self.signatures[key] = m
        return True
