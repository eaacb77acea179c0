from __future__ import annotations

import numpy as np
import pytest

from lmforge.tokens.loader import DataConfig, StageSpec, TokenLoader
from lmforge.tokens.pack import load_tokens, pack_texts, read_manifest
from lmforge.errors import UserError
from lmforge.tokenizer import byte_tokenizer


@pytest.fixture(scope="module")
def packed(tmp_path_factory, real_docs):
    tok = byte_tokenizer()
    out = tmp_path_factory.mktemp("p") / "packed"
    docs = {"en": real_docs["en"][:60], "zh": real_docs["zh"][:120]}
    pack_texts(docs, tok, out, val_fraction=0.05, shard_tokens=50_000)
    return out, tok, docs


def test_pack_is_lossless(packed):
    out, tok, docs = packed
    m = read_manifest(out)
    assert m["dtype"] == "uint16" and len(m["sources"]["en"]["train"]) > 1  # several shards
    for source, texts in docs.items():
        pieces = []
        for split in ("train", "val"):
            ids = load_tokens(out, source, split).tolist()
            text = tok.decode(ids, skip_special_tokens=False)
            pieces += [d for d in text.split(tok.tok.id_to_token(tok.eos_id)) if d]
        assert sorted(pieces) == sorted(texts)


def test_mixture_shares_within_one_percent(packed):
    out, _, _ = packed
    loader = TokenLoader(DataConfig(path=str(out), weights={"en": 0.2, "zh": 0.8}), seq_len=64,
                         batch_size=16)
    while sum(loader.tokens_seen().values()) < 1_000_000:
        loader.next_batch()
    seen = loader.tokens_seen()
    total = sum(seen.values())
    assert abs(seen["en"] / total - 0.2) < 0.01 and abs(seen["zh"] / total - 0.8) < 0.01


def test_curriculum_switches_at_budget(packed):
    out, _, _ = packed
    cfg = DataConfig(path=str(out), stages=[StageSpec(tokens=64 * 16 * 10, weights={"en": 1.0}),
                                            StageSpec(weights={"en": 0.5, "zh": 0.5})])
    loader = TokenLoader(cfg, seq_len=64, batch_size=16)
    for _ in range(10):
        loader.next_batch()
    assert loader.tokens_seen()["zh"] == 0 and loader.stage() == 1
    for _ in range(10):
        loader.next_batch()
    assert loader.tokens_seen()["zh"] == 64 * 16 * 10 // 2


def test_resume_gives_identical_stream(packed):
    out, _, _ = packed
    cfg = DataConfig(path=str(out), weights={"en": 1, "zh": 3})
    a = TokenLoader(cfg, seq_len=32, batch_size=4, seed=5)
    for _ in range(7):
        a.next_batch()
    state = a.state_dict()
    expected = [a.next_batch()["input_ids"] for _ in range(5)]
    b = TokenLoader(cfg, seq_len=32, batch_size=4, seed=5)
    b.load_state_dict(state)
    assert all(np.array_equal(x, b.next_batch()["input_ids"]) for x in expected)


def test_ranks_split_the_global_batch(packed):
    out, _, _ = packed
    cfg = DataConfig(path=str(out))
    whole = TokenLoader(cfg, seq_len=16, batch_size=4, seed=1).next_batch()["input_ids"]
    halves = [TokenLoader(cfg, seq_len=16, batch_size=2, seed=1, rank=r, world_size=2).next_batch()["input_ids"]
              for r in (0, 1)]
    assert np.array_equal(whole, np.concatenate(halves))


def test_unknown_source_and_missing_folder(packed, tmp_path):
    out, _, _ = packed
    with pytest.raises(ValueError, match="unknown source"):
        TokenLoader(DataConfig(path=str(out), weights={"fr": 1}), seq_len=8, batch_size=1)
    with pytest.raises(UserError, match="not a packed data folder"):
        TokenLoader(DataConfig(path=str(tmp_path)), seq_len=8, batch_size=1)


def test_interrupted_pack_leaves_nothing(tmp_path):
    def docs():
        yield "one document"
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        pack_texts({"x": docs()}, byte_tokenizer(), tmp_path / "out")
    assert list(tmp_path.iterdir()) == []
