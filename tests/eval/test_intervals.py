"""Every eval score carries n and a 95% interval: translation (bootstrap over sentences), perplexity
(bootstrap over documents), elo (bootstrap over games), checked on hand-made examples."""

from __future__ import annotations

import math

import numpy as np
import pytest
import sacrebleu

from lmforge.eval.elo import elo_with_ci
from lmforge.eval.perplexity import summarize
from lmforge.eval.tasks.translation import score

HYP = ["the cat sat on the mat", "a dog ran", "I like green tea", "it rains today", "we went home",
       "the sun is hot"]
REF = ["the cat sat on the mat", "the dog runs", "I like tea", "today it rains", "we went home late",
       "the sun is very hot"]


def test_translation_interval_is_the_percentile_bootstrap_of_sacrebleu_over_sentences():
    got = score(HYP, REF, "en", rounds=200, seed=3)
    assert got["bleu"] == pytest.approx(sacrebleu.corpus_bleu(HYP, [REF]).score, abs=1e-9)
    assert got["chrf"] == pytest.approx(sacrebleu.corpus_chrf(HYP, [REF]).score, abs=1e-9)
    # the peer: sacrebleu's corpus scores of the same 200 resampled corpora, 2.5th and 97.5th of sorted
    rows = np.random.default_rng(3).integers(0, len(HYP), size=(200, len(HYP)))
    for name, corpus in (("bleu", sacrebleu.corpus_bleu), ("chrf", sacrebleu.corpus_chrf)):
        values = sorted(corpus([HYP[i] for i in r], [[REF[i] for i in r]]).score for r in rows)
        assert got[f"{name}_ci95"] == pytest.approx([values[4], values[199 - 4]], abs=1e-9)
        assert got[f"{name}_ci95"][0] < got[name] < got[f"{name}_ci95"][1]


def test_perplexity_interval_on_two_documents_by_hand():
    # doc A: nll 1 over 1 token (2 bytes); doc B: nll 9 over 3 tokens (6 bytes). Resamples of two:
    # AA (p 1/4) loss 1, AB (1/2) 10/4, BB (1/4) 3; the 2.5th and 97.5th percentiles are 1 and 3.
    r = summarize(np.array([[1.0, 1, 2], [9.0, 3, 6]]))
    assert (r["documents"], r["tokens"], r["bytes"]) == (2, 4, 8)
    assert r["nll_per_token"] == 2.5 and r["nll_per_token_ci95"] == [1.0, 3.0]
    assert r["perplexity"] == pytest.approx(math.exp(2.5))
    assert r["perplexity_ci95"] == pytest.approx([math.e, math.exp(3)])  # exp of the loss interval
    assert r["bits_per_byte"] == pytest.approx(10 / 8 / math.log(2))
    assert r["bits_per_byte_ci95"] == pytest.approx([0.5 / math.log(2), 1.5 / math.log(2)])


def test_perplexity_interval_matches_the_delta_method_on_many_documents():
    rng = np.random.default_rng(0)
    tokens = rng.integers(20, 200, size=400).astype(float)
    nll = tokens * rng.normal(3.0, 0.4, size=400)
    r = summarize(np.stack([nll, tokens, 3 * tokens], 1))
    ratio = nll.sum() / tokens.sum()
    # standard error of a ratio of sums over n documents: sd(nll - ratio * tokens) / (sqrt(n) mean(tokens))
    se = np.std(nll - ratio * tokens, ddof=1) / (math.sqrt(400) * tokens.mean())
    lo, hi = r["nll_per_token_ci95"]
    assert lo < ratio < hi and (hi - lo) / 2 == pytest.approx(1.96 * se, rel=0.15)


def test_elo_interval_and_games_by_hand():
    # three identical games, a beats b: every resample is the same sequence, so the interval is the
    # point. Elo with k=4 by hand: +2 (expected 0.5), then +1.97698, then +1.95422 -> 1005.9312
    r = elo_with_ci([("a", "b", 1.0)] * 3, rounds=20)
    assert r["a"]["elo"] == pytest.approx(1005.9312, abs=1e-3) and r["b"]["elo"] == pytest.approx(994.0688, abs=1e-3)
    assert r["a"]["lo"] == r["a"]["elo"] == r["a"]["hi"] and r["a"]["games"] == r["b"]["games"] == 3

