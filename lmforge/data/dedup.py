"""Deduplication: exact (normalised hash) and near-duplicate (MinHash LSH on character 5-grams)."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass

from datasketch import MinHash, MinHashLSH

_SPACE_PUNCT = re.compile(r"[\s\W_]+", re.UNICODE)


def normalized_hash(text: str) -> str:
    """Hash of the text lower-cased without whitespace or punctuation."""
    return hashlib.blake2b(_SPACE_PUNCT.sub("", text.lower()).encode(), digest_size=16).hexdigest()


def shingles(text: str, n: int = 5) -> set[bytes]:
    """Character n-grams of the whitespace-collapsed text (works for Chinese, which has no spaces)."""
    compact = re.sub(r"\s+", " ", text.lower()).strip()
    if len(compact) <= n:
        return {compact.encode()}
    return {compact[i:i + n].encode() for i in range(len(compact) - n + 1)}


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
            raise ValueError(f"threshold must be in (0, 1], got {threshold}")
        self.exact, self.near, self.ngram, self.num_perm, self.seed = exact, near, ngram, num_perm, seed
        self.lsh = MinHashLSH(threshold=threshold, num_perm=num_perm)
        self.hashes: set[str] = set()
        self.stats = DedupStats()

    def minhash(self, text: str) -> MinHash:
        m = MinHash(num_perm=self.num_perm, seed=self.seed)
        m.update_batch(list(shingles(text, self.ngram)))
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
            if self.lsh.query(m):
                self.stats.near_duplicates += 1
                return False
            self.lsh.insert(str(self.stats.docs_in), m)
        return True
