"""Packed data at its boundaries: shard ids checked against the vocabulary when loaded, and a
validation split sized automatically for a tiny corpus (issues 16 and 17)."""

from __future__ import annotations

import numpy as np
import pytest

from lmforge.errors import UserError
from lmforge.tokenizer import byte_tokenizer
from lmforge.tokens.loader import DataConfig, TokenLoader
from lmforge.tokens.pack import load_tokens, pack_texts, read_manifest

TINY = ["A short note about the weather in the park. " * 2, "We walked home after a long lunch. " * 3,
        "The library opens at nine on weekdays. " * 2, "Trains leave every ten minutes. " * 3]


@pytest.fixture
def tiny(tmp_path):
    """One small source, packed with the byte tokenizer: a few hundred tokens in all."""
    out = tmp_path / "packed"
    pack_texts({"mine": TINY}, byte_tokenizer(), out, val_fraction=0.01)
    return out


def test_shard_with_ids_beyond_vocabulary_is_refused(tiny):
    m = read_manifest(tiny)
    shard = tiny / m["sources"]["mine"]["train"][0]
    ids = np.fromfile(shard, dtype=m["dtype"])
    ids[3] = m["vocab_size"] + 7  # a corrupt shard (or one packed with a larger tokenizer)
    ids.tofile(shard)
    with pytest.raises(UserError, match=f"token id {m['vocab_size'] + 7} is outside the vocabulary") as err:
        load_tokens(tiny, "mine", "train")
    assert str(shard) in str(err.value)
    with pytest.raises(UserError, match="outside the vocabulary"):  # before any batch is drawn
        TokenLoader(DataConfig(path=str(tiny)), seq_len=32, batch_size=2)


def test_tiny_corpus_gets_an_automatic_validation_split(tiny, capsys):
    m = read_manifest(tiny)["sources"]["mine"]["tokens"]
    assert m["val"] < 129 < m["train"]  # the trap: "108 val tokens, fewer than seq_len+1 = 129"
    train = TokenLoader(DataConfig(path=str(tiny)), seq_len=128, batch_size=2)
    val = TokenLoader(DataConfig(path=str(tiny)), seq_len=128, batch_size=2, split="val")
    short = 129 - m["val"]
    assert len(val.tokens["mine"]) == 129 and len(train.tokens["mine"]) == m["train"] - short
    whole = np.asarray(load_tokens(tiny, "mine", "train"))
    # validation = the val split + the end of the training split, which training no longer sees
    assert np.array_equal(np.asarray(val.tokens["mine"][m["val"]:]), whole[-short:])
    assert np.array_equal(np.asarray(train.tokens["mine"]), whole[:-short])
    assert "validating on them plus the last" in capsys.readouterr().err
    batch = next(val.eval_batches(1))
    assert batch["input_ids"].shape == (2, 128)


def test_a_source_too_small_to_train_names_the_remedy(tiny):
    with pytest.raises(UserError, match="training tokens, fewer than seq_len\\+1 = 1025.*lower train.seq_len"):
        TokenLoader(DataConfig(path=str(tiny)), seq_len=1024, batch_size=2)


def test_enough_validation_tokens_change_nothing(tmp_path, real_docs):
    out = tmp_path / "packed"
    pack_texts({"en": real_docs["en"][:40]}, byte_tokenizer(), out, val_fraction=0.2)
    m = read_manifest(out)["sources"]["en"]["tokens"]
    train = TokenLoader(DataConfig(path=str(out)), seq_len=64, batch_size=2)
    val = TokenLoader(DataConfig(path=str(out)), seq_len=64, batch_size=2, split="val")
    assert (len(train.tokens["en"]), len(val.tokens["en"])) == (m["train"], m["val"])
