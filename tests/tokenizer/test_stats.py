"""Tokenizer statistics sample each language, so a corpus written en-first still gets a zh row."""

import json

from lmforge.data.corpus import demo_corpus
from lmforge.tokenizer.stats import format_stats, sample_by_language, tokenizer_stats
from lmforge.tokenizer.train import train_tokenizer


def test_sample_by_language_fills_each_language_from_an_en_first_stream():
    en = [f"The quick brown fox number {i} jumps over the lazy dog." * 4 for i in range(100)]
    zh = [f"第{i}篇：今天天气很好，我们一起去公园散步，看见很多人在放风筝。" for i in range(100)]
    sample = sample_by_language(en + zh, max_chars=4000)
    assert sample["zh"] and sample["en"] and not sample["other"]
    assert sample["en"][0] == en[0] and sample["zh"][0] == zh[0]
    taken = {lang: sum(map(len, docs)) for lang, docs in sample.items()}
    assert 2000 <= taken["en"] < 2000 + len(en[0])  # half the budget (plus the last document)
    assert 1500 < taken["zh"] and sum(taken.values()) < 4000 + len(en[0]) + len(zh[0])  # plus one doc each
    # the old behaviour (the first max_chars characters) had English only
    assert sum(map(len, en)) > 4000


def test_a_one_language_corpus_gets_the_whole_budget():
    en = [f"The quick brown fox number {i} jumps over the lazy dog." * 4 for i in range(100)]
    taken = sum(map(len, sample_by_language(en, max_chars=4000)["en"]))
    assert 4000 <= taken < 4000 + len(en[0])


def test_tokenizer_stats_report_zh_and_en_rows(tmp_path):
    corpus = demo_corpus(max_chars=80_000, zh_share=0.5)
    tok_dir = tmp_path / "tok"
    train_tokenizer(corpus["en"] + corpus["zh"], 800, tok_dir)
    data = tmp_path / "corpus.jsonl"  # English first, far more of it than max_chars
    data.write_text("\n".join(json.dumps({"text": t}, ensure_ascii=False) for t in corpus["en"] + corpus["zh"]),
                    encoding="utf-8")
    r = tokenizer_stats(str(tok_dir), [str(data)], max_chars=20_000)
    assert {"zh", "en"} <= set(r["this"])
    assert 0 < r["this"]["zh"]["tokens_per_cjk_char"] < 3 and r["this"]["en"]["tokens_per_cjk_char"] is None
    assert r["this"]["en"]["chars_per_token"] > 1.5  # merges learnt (bytes alone: 1.0)
    rows = [[c.strip() for c in line.split("|")[1:3]] for line in format_stats(r).splitlines()[2:]]
    assert rows == [["this", "zh"], ["this", "en"]]
