import pytest


@pytest.fixture(scope="session")
def tok_dir(tmp_path_factory):
    from lmforge.data.corpus import demo_corpus
    from lmforge.tokenizer.train import train_tokenizer

    c = demo_corpus(max_chars=60_000, zh_share=0.5)
    d = tmp_path_factory.mktemp("tok")
    train_tokenizer(c["zh"] + c["en"], 600, d, "bytelevel-bpe")
    return d
