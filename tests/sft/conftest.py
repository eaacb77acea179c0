import pytest


@pytest.fixture(scope="session")
def tok_dir(tmp_path_factory):
    from lmforge.data.corpus import demo_corpus
    from lmforge.tokenizer.train import train_tokenizer

    c = demo_corpus(max_chars=60_000, zh_share=0.5)
    d = tmp_path_factory.mktemp("tok")
    train_tokenizer(c["zh"] + c["en"], 600, d, "bytelevel-bpe")
    return d


@pytest.fixture(scope="session")
def base_dir(tmp_path_factory, tok_dir):
    from lmforge.model import build_model, preset, save_model
    from lmforge.tokenizer.core import Tokenizer

    tok = Tokenizer.from_dir(tok_dir)
    cfg = preset("tiny", vocab_size=tok.vocab_size, hidden_size=64, intermediate_size=176,
                 num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2)
    d = tmp_path_factory.mktemp("base") / "model"
    save_model(build_model(cfg, seed=0), d, created_by="test", copy_from=tok_dir)
    return d
