"""The cleaner, the exact keys and MinHash work on a batch of documents at once (their
characters joined into one array). A batch must give every document exactly what it gets alone:
nothing may leak across the joins."""

from __future__ import annotations

import random
from collections import Counter

import numpy as np

from lmforge.data import charclass
from lmforge.data.clean import Cleaner, max_ngram_repetition_many
from lmforge.data.dedup import exact_key, exact_keys
from lmforge.data.minhash import _PRIME, _fmix, MinHasher, ngram_hashes, ngram_hashes_many

EDGE = ["", " ", "\n\n", "a", "ab", "中", "短", "_", "日本語のテキストです。", "x" * 9, "abcdefghij",
        "Click here! " * 40, "的" * 25, "\ud800 lone surrogate", "Ⅷ ½ ² ※※※※※※※※※※※※",
        "Мороз и солнце; день чудесный! Ещё ты дремлешь, друг прелестный: пора, красавица, проснись, "
        "открой сомкнуты негой взоры навстречу северной Авроры, звездою севера явись!"]


def _batch(real_docs) -> list[str]:
    rng = random.Random(1)
    docs = real_docs["zh"][:120] + real_docs["en"][:120] + EDGE
    docs += [d[:150] + "订阅我们的频道！" * rng.randrange(1, 20) for d in real_docs["zh"][:40]]
    rng.shuffle(docs)
    return docs


def _polynomial_hash(text: str, n: int) -> list[int]:
    """The n-gram hash with Python integers (mod 2^64), one window at a time."""
    codes = [ord(c) for c in text] + [0] * max(0, n - len(text))
    raw = []
    for i in range(len(codes) - n + 1):
        h = 0
        for c in codes[i:i + n]:
            h = (h * int(_PRIME) + c) % 2**64
        raw.append(h)
    return _fmix(np.array(raw, dtype=np.uint64)).tolist()


def test_ngram_hashes_of_a_batch_are_each_texts_own():
    rng = random.Random(0)
    texts = ["".join(chr(rng.randrange(0x20, 0x9FFF)) for _ in range(rng.randrange(0, 40))) for _ in range(200)]
    for n in (1, 2, 5, 10):
        h, bounds = ngram_hashes_many(texts, n)
        assert len(bounds) == len(texts) + 1
        for i, t in enumerate(texts):
            assert h[bounds[i]:bounds[i + 1]].tolist() == _polynomial_hash(t, n), (n, t)
    assert ngram_hashes("abc", 5).tolist() == _polynomial_hash("abc", 5)  # short texts are padded


def test_batch_cleaning_equals_one_document_at_a_time(real_docs):
    docs = _batch(real_docs)
    batch, alone = Cleaner(), Cleaner()
    got = batch.clean_many(docs)
    assert got == [alone(d) for d in docs]
    assert {k: vars(v) for k, v in batch.stats.items()} == {k: vars(v) for k, v in alone.stats.items()}
    dropped = {k for k, v in batch.stats.items() if v.docs_in > v.docs_out}
    assert {"min_length", "max_ngram_repetition", "keep_languages"} <= dropped  # the batch filters all act


def _top_ngram_share_ok(text: str, n: int, share: float) -> bool:
    compact = "".join(text.split())
    if len(compact) < 2 * n:
        return True
    top = Counter(compact[i:i + n] for i in range(len(compact) - n + 1)).most_common(1)[0][1]
    return top * n / len(compact) <= share if top > 1 else True


def test_batch_ngram_repetition_equals_counting(real_docs):
    docs = _batch(real_docs)
    for share in (0.05, 0.2):
        got = max_ngram_repetition_many(docs, 10, share).tolist()
        assert got == [_top_ngram_share_ok(d, 10, share) for d in docs]
        assert 0 < sum(got) < len(docs)


def test_batch_character_classes_equal_single_texts(real_docs):
    docs = _batch(real_docs)
    flags, bounds = charclass.flags_many(docs)
    assert charclass.languages(flags, bounds) == [charclass.language(d) for d in docs]
    assert charclass.length_units_many(flags, bounds).tolist() == [charclass.length_units(d) for d in docs]
    shares = charclass.symbol_shares(flags, bounds)
    assert [None if np.isnan(s) else s for s in shares] == [charclass.symbol_share(d) for d in docs]


def test_exact_keys_ignore_case_space_and_punctuation_only(real_docs):
    docs = _batch(real_docs)
    keys = exact_keys(docs)
    assert [tuple(k) for k in keys.tolist()] == [exact_key(d) for d in docs]
    assert exact_key("Hello, World!") == exact_key("hello world") == exact_key(" HELLO\tworld...")
    assert exact_key("你好，世界。") == exact_key("你好 世界")
    assert exact_key("hello world") != exact_key("hello word")
    assert len({tuple(k) for k in keys.tolist()}) == len(set(docs)) - 3  # "", " ", "\n\n" share a key


def test_batch_signatures_equal_single_signatures(real_docs):
    docs = _batch(real_docs)
    mh = MinHasher()
    sigs = mh.signatures(docs)
    assert all(np.array_equal(sigs[i], mh.signature(d)) for i, d in enumerate(docs))
