from __future__ import annotations

import pytest
import torch

from lmforge.tokenizer import Tokenizer, TokenizerError
from lmforge.tokenizer.extend import extend_tokenizer
from lmforge.tokenizer.train import train_tokenizer


@pytest.fixture(scope="module")
def english_base(tmp_path_factory, corpus_texts):
    """An English-only base, like LLaMA's tokenizer is for Chinese."""
    english = [t for t in corpus_texts if not any("\u4e00" <= c <= "\u9fff" for c in t[:200])]
    out = {}
    for kind, size in (("bytelevel-bpe", 2000), ("sentencepiece-bpe", 1500)):
        d = tmp_path_factory.mktemp(f"base-{kind}")
        train_tokenizer(english, size, d, kind)
        out[kind] = d
    return out


@pytest.mark.parametrize("kind,added", [("bytelevel-bpe", "bytelevel-bpe"),
                                        ("sentencepiece-bpe", "sentencepiece-bpe")])
def test_extension_keeps_ids_and_english_and_shortens_chinese(tmp_path, english_base, trained,
                                                              corpus_texts, kind, added):
    base_dir = english_base[kind]
    info = extend_tokenizer(base_dir, trained[added][1], tmp_path / "ext")
    base, ext = Tokenizer.from_dir(base_dir), Tokenizer.from_dir(tmp_path / "ext")
    assert info["added"] > 500 and ext.vocab_size == base.vocab_size + info["added"]
    for piece, i in base.tok.get_vocab(with_added_tokens=True).items():
        assert ext.tok.token_to_id(piece) == i
    english = "To be, or not to be, that is the question: 2024 was a leap year."
    assert ext.encode(english) == base.encode(english)
    chinese = "".join(t for t in corpus_texts if "子曰" in t)[:5000]
    ratio = len(ext.encode(chinese)) / len(base.encode(chinese))
    assert ratio < 0.7, ratio
    assert ext.decode(ext.encode(chinese)) == chinese


def test_type_mismatch_is_an_error(tmp_path, english_base, trained):
    with pytest.raises(TokenizerError, match="cannot add a sentencepiece tokenizer"):
        extend_tokenizer(english_base["bytelevel-bpe"], trained["sentencepiece-bpe"][1], tmp_path / "x")
    with pytest.raises(TokenizerError, match="not a tokenizer folder"):
        extend_tokenizer(english_base["bytelevel-bpe"], tmp_path, tmp_path / "x")


def test_grow_vocab_mean_init_keeps_predictions(tmp_path, trained, corpus_texts):
    from lmforge.grow.vocab import resize_vocab
    from lmforge.model import build_model, preset
    from lmforge.model.transformer import causal_lm_loss

    tok = trained["bytelevel-bpe"][0]
    torch.manual_seed(0)
    model = build_model(preset("tiny", vocab_size=tok.vocab_size, hidden_size=64, intermediate_size=128,
                               num_hidden_layers=2), seed=0)
    ids = torch.tensor(tok.encode(" ".join(corpus_texts[-40:]))[:20 * 65]).view(20, 65)
    opt = torch.optim.AdamW(model.parameters(), lr=3e-3)
    for step in range(200):  # a briefly trained model, so its distribution is not flat
        loss = causal_lm_loss(model(ids[step % 16:step % 16 + 4]), ids[step % 16:step % 16 + 4])
        opt.zero_grad(); loss.backward(); opt.step()
    model.eval()
    held = ids[16:]
    extra = 500

    def kl(grown) -> float:
        """KL(old || grown) on held-out old text; the grown model's mass on new tokens counts."""
        with torch.no_grad():
            p = model(held).log_softmax(-1)
            q = grown(held).log_softmax(-1)[..., :tok.vocab_size]
            return float((p.exp() * (p - q)).sum(-1).mean())
    mean_kl = kl(resize_vocab(model, tok.vocab_size + extra, "mean").eval())
    normal_kl = kl(resize_vocab(model, tok.vocab_size + extra, "normal").eval())
    assert mean_kl < 0.01 and mean_kl < normal_kl, (mean_kl, normal_kl)
    grown = resize_vocab(model, tok.vocab_size + extra)
    assert torch.equal(grown.model.embed_tokens.weight[:tok.vocab_size], model.model.embed_tokens.weight)


def test_extend_trains_the_addition_in_one_step(tmp_path, english_base, corpus_texts):
    import json

    zh = tmp_path / "zh.jsonl"
    zh.write_text("\n".join(json.dumps({"text": t}, ensure_ascii=False)
                            for t in corpus_texts if "\u4e00" <= t[:1] <= "\u9fff"))
    info = extend_tokenizer(english_base["bytelevel-bpe"], None, tmp_path / "ext", train_on=[str(zh)],
                            add_size=1500)
    assert info["added"] > 300 and info["vocab"] == info["base_vocab"] + info["added"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ext", "zh.jsonl"]  # no leftover addition
    with pytest.raises(TokenizerError, match="--add TOKENIZER or --train-on"):
        extend_tokenizer(english_base["bytelevel-bpe"], None, tmp_path / "x")


def test_grow_vocab_folder_loads_in_transformers(tmp_path, english_base, trained):
    transformers = pytest.importorskip("transformers")
    from lmforge.grow.vocab import grow_vocab
    from lmforge.model import build_model, load_model, preset, save_model

    base = Tokenizer.from_dir(english_base["bytelevel-bpe"])
    extend_tokenizer(english_base["bytelevel-bpe"], trained["bytelevel-bpe"][1], tmp_path / "tok")
    ext = Tokenizer.from_dir(tmp_path / "tok")
    model = build_model(preset("tiny", vocab_size=base.vocab_size, hidden_size=32, intermediate_size=64,
                               num_hidden_layers=1, num_attention_heads=2, num_key_value_heads=1))
    save_model(model, tmp_path / "m", created_by="test", copy_from=english_base["bytelevel-bpe"])
    grow_vocab(tmp_path / "m", tmp_path / "tok", tmp_path / "g")
    grown = load_model(tmp_path / "g")
    assert grown.config.vocab_size == ext.vocab_size
    assert Tokenizer.from_dir(tmp_path / "g").vocab_size == ext.vocab_size  # tokenizer travels along
    ref = transformers.AutoModelForCausalLM.from_pretrained(tmp_path / "g")
    assert ref.get_input_embeddings().weight.shape[0] == ext.vocab_size
    with pytest.raises(ValueError, match="smaller than the model"):
        grow_vocab(tmp_path / "g", english_base["bytelevel-bpe"], tmp_path / "shrunk")
