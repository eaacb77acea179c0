import pytest


@pytest.fixture(scope="session")
def corpus_texts():
    from lmforge.data.corpus import demo_corpus

    c = demo_corpus(max_chars=600_000, zh_share=0.5)
    return c["zh"] + c["en"]


@pytest.fixture(scope="session")
def trained(tmp_path_factory, corpus_texts):
    """One tokenizer of each type, trained once for the session."""
    from lmforge.tokenizer.train import train_tokenizer

    out = {}
    for t in ("bytelevel-bpe", "sentencepiece-bpe", "sentencepiece-unigram", "wordpiece", "unigram"):
        d = tmp_path_factory.mktemp(t)
        out[t] = (train_tokenizer(corpus_texts, 3000 if t == "bytelevel-bpe" else 7000, d, t), d)
    return out
