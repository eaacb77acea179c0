"""`tokenizer extend` on each format a real base ships (SentencePiece tokenizer.model, a Llama-2
style tokenizer.json with byte fallback and Metaspace, a Llama-3 style byte-level BPE): base ids and
English kept, Chinese shorter, transformers agrees, chat templates render, GGUF carries it."""

from __future__ import annotations

import json
import re

import gguf
import pytest
import sentencepiece as spm

from lmforge.export.gguf import export_gguf
from lmforge.tokenizer import Tokenizer
from lmforge.tokenizer.chat_template import render, render_text
from lmforge.tokenizer.extend import extend_tokenizer
from tests.tokenizer import formats as F

ADD_SIZE = 4000
MIXED = "The quick brown fox, 1998 年 12 月 31 日。中共中央总书记发表了新年讲话！  Two  spaces.\n子曰：学而时习之。"
CHAT = [{"role": "system", "content": "你是一个有用的助手。"}, {"role": "user", "content": "今天天气怎么样？"},
        {"role": "assistant", "content": "今天天气很好，适合去公园散步。"}, {"role": "user", "content": "Thanks!"}]
GGUF_MODEL = {"spm": "llama", "llama-json": "llama", "mistral-json": "llama", "bytelevel": "gpt2"}
KIND = {"spm": "sentencepiece", "llama-json": "metaspace-bpe", "mistral-json": "metaspace-bpe",
        "bytelevel": "bytelevel-bpe"}


@pytest.fixture(scope="module")
def chinese_held_out() -> str:
    return F.reviews("neg", 20_000)


@pytest.fixture(scope="module")
def extended(tmp_path_factory):
    """format -> (base folder, extended folder, extend's result); the addition is trained on
    300K characters of Chinese reviews through `extend --train-on`."""
    root = tmp_path_factory.mktemp("formats")
    zh = root / "zh.jsonl"
    zh.write_text("\n".join(json.dumps({"text": t}, ensure_ascii=False)
                            for t in F.reviews("pos", 300_000).splitlines() if t.strip()), encoding="utf-8")
    out = {}
    for name, make in F.MAKERS.items():
        base = make(root / f"base-{name}")
        info = extend_tokenizer(base, None, root / f"ext-{name}", train_on=[str(zh)], add_size=ADD_SIZE)
        out[name] = (base, root / f"ext-{name}", info)
    return out


def _load(folder):
    from lmforge.tokenizer.formats import load_tokenizer

    return load_tokenizer(folder)


@pytest.mark.parametrize("fmt", F.FORMATS)
def test_extension_keeps_ids_and_english_and_shortens_chinese(extended, chinese_held_out, fmt):
    base_dir, ext_dir, info = extended[fmt]
    base, ext = _load(base_dir), Tokenizer.from_dir(ext_dir)
    assert info["format"] == KIND[fmt]
    assert info["added"] > 1000 and ext.vocab_size == base.vocab_size + info["added"]
    for piece, i in base.tok.get_vocab(with_added_tokens=True).items():
        assert ext.tok.token_to_id(piece) == i
    english = F.english(held_out=True)
    assert ext.encode(english) == base.encode(english)
    before, after = len(base.encode(chinese_held_out)), len(ext.encode(chinese_held_out))
    print(f"{fmt}: {len(chinese_held_out)} Chinese characters, {before} -> {after} tokens, "
          f"{before / after:.2f}x fewer")
    assert before / after >= 1.5, (before, after)
    assert ext.decode(ext.encode(chinese_held_out)) == chinese_held_out


@pytest.mark.parametrize("fmt", F.FORMATS)
def test_autotokenizer_and_sentencepiece_give_lmforge_ids(extended, chinese_held_out, fmt):
    from transformers import AutoTokenizer

    _, ext_dir, _ = extended[fmt]
    ours = Tokenizer.from_dir(ext_dir)
    theirs = AutoTokenizer.from_pretrained(ext_dir)
    for text in (MIXED, chinese_held_out[:3000]):
        assert theirs(text, add_special_tokens=False)["input_ids"] == ours.encode(text)
    assert len(theirs) == ours.vocab_size
    if fmt == "spm":  # the extended tokenizer.model encodes like tokenizer.json (llama.cpp uses the .model)
        sp = spm.SentencePieceProcessor(model_file=str(ext_dir / "tokenizer.model"))
        assert sp.get_piece_size() == ours.vocab_size
        for text in (MIXED, chinese_held_out[:3000]):
            assert sp.encode(text) == ours.encode(text)


def _template_ids(auto_tokenizer, messages) -> list[int]:
    """transformers' apply_chat_template ids (a list in transformers 4, an encoding in 5)."""
    want = auto_tokenizer.apply_chat_template(messages, tokenize=True)
    return list(want["input_ids"] if hasattr(want, "keys") else want)


@pytest.mark.parametrize("fmt", F.FORMATS)
def test_chat_template_renders_like_transformers(extended, fmt):
    from transformers import AutoTokenizer

    _, ext_dir, _ = extended[fmt]
    ours = Tokenizer.from_dir(ext_dir)
    messages = CHAT[1:] if fmt == "bytelevel" else CHAT
    ids, mask = render(ours, messages[:3])
    assert ids == _template_ids(AutoTokenizer.from_pretrained(ext_dir), messages[:3])
    answer = ours.decode([i for i, m in zip(ids, mask) if m])
    assert "今天天气很好，适合去公园散步。" in answer and "怎么样" not in answer


def _spm_encode(text: str, tokens: list[str], scores: list[float], space_prefix: bool) -> list[int]:
    """llama.cpp's SentencePiece-vocabulary tokenizer (llm_tokenizer_spm) on one stretch of text,
    from a GGUF's keys: start from characters, repeatedly join the adjacent pair whose join is a
    token with the highest score (leftmost on ties), then spell leftover pieces as <0xXX> tokens."""
    ids = {t: i for i, t in enumerate(tokens)}
    sym = list(("▁" if space_prefix else "") + text.replace(" ", "▁"))
    while True:
        joins = [(scores[ids[sym[k] + sym[k + 1]]], -k) for k in range(len(sym) - 1) if sym[k] + sym[k + 1] in ids]
        if not joins:
            break
        k = -max(joins)[1]
        sym[k:k + 2] = [sym[k] + sym[k + 1]]
    return [i for s in sym for i in ([ids[s]] if s in ids else [ids[f"<0x{b:02X}>"] for b in s.encode("utf-8")])]


def _llamacpp_spm(text: str, kv: dict) -> list[int]:
    """llama.cpp's tokenize() for an SPM vocabulary with special tokens parsed: control and
    user-defined tokens split the text, and each stretch after one (or at the start) gets the
    space prefix."""
    tokens, types = kv["tokenizer.ggml.tokens"], kv["tokenizer.ggml.token_type"]
    special = sorted((t for t, ty in zip(tokens, types) if ty in (gguf.TokenType.CONTROL, gguf.TokenType.USER_DEFINED)),
                     key=len, reverse=True)
    out, prev_special = [], True
    for part in re.split("(" + "|".join(map(re.escape, special)) + ")", text):
        if part in special:
            out.append(tokens.index(part))
            prev_special = True
        elif part:
            out += _spm_encode(part, tokens, kv["tokenizer.ggml.scores"], kv["tokenizer.ggml.add_space_prefix"]
                               and prev_special)
            prev_special = False
    return out


def _gguf(tmp_path, ext_dir):
    from lmforge.model import build_model, preset, save_model

    tok = Tokenizer.from_dir(ext_dir)
    model = build_model(preset("tiny", vocab_size=tok.vocab_size + 3, hidden_size=32, intermediate_size=64,
                               num_hidden_layers=1, num_attention_heads=2, num_key_value_heads=1), seed=0)
    folder = save_model(model, tmp_path / "m", created_by="test", copy_from=ext_dir)
    reader = gguf.GGUFReader(export_gguf(folder, tmp_path / "m.gguf", "f32"))
    return tok, folder, {k: f.contents() for k, f in reader.fields.items() if k.startswith("tokenizer.")}


@pytest.mark.parametrize("fmt", F.FORMATS)
def test_gguf_carries_the_extended_tokenizer(extended, tmp_path, chinese_held_out, fmt):
    _, ext_dir, _ = extended[fmt]
    tok, _, kv = _gguf(tmp_path, ext_dir)
    tokens, types = kv["tokenizer.ggml.tokens"], kv["tokenizer.ggml.token_type"]
    assert kv["tokenizer.ggml.model"] == GGUF_MODEL[fmt]
    assert len(tokens) == tok.vocab_size + 3 and tokens[-1] == f"[PAD{tok.vocab_size + 2}]"
    assert tokens[:tok.vocab_size] == [tok.tok.id_to_token(i) for i in range(tok.vocab_size)]
    assert kv["tokenizer.ggml.eos_token_id"] == tok.eos_id and kv["tokenizer.chat_template"] == tok.chat_template
    assert kv["tokenizer.ggml.add_bos_token"] is True  # Llama-2 and Llama-3 both start with BOS
    if fmt == "bytelevel":
        assert kv["tokenizer.ggml.pre"] == "llama-bpe"
        assert len(kv["tokenizer.ggml.merges"]) == len(json.loads(tok.tok.to_str())["model"]["merges"])
        assert types[tok.token_id("<|eot_id|>")] == gguf.TokenType.CONTROL
        return
    assert kv["tokenizer.ggml.pre"] == "default" and kv["tokenizer.ggml.add_space_prefix"] is True
    assert types[tok.token_id("<0x41>")] == gguf.TokenType.BYTE and types[tok.bos_id] == gguf.TokenType.CONTROL
    assert types[tok.token_id("<unk>")] in (gguf.TokenType.UNKNOWN, gguf.TokenType.CONTROL)
    # llama.cpp's SPM tokenizer on the GGUF's tokens and scores gives lmforge's ids
    for text in ("To be, or not to be: 1998 was a year.", chinese_held_out[:1500]):
        for line in text.splitlines():
            assert _llamacpp_spm(line, kv) == tok.encode(line), line[:40]
    # after a special token llama.cpp always adds the space prefix, as SentencePiece and the older
    # normalizer form do; a Metaspace "first" tokenizer.json adds none (the rendered chat differs)
    text = render_text(tok, CHAT[:3])
    assert (_llamacpp_spm(text, kv) == tok.encode(text)) == (fmt == "mistral-json")


def test_gguf_vocab_matches_the_gguf_packages_readers(extended):
    """Tokens and types as the gguf package's own SentencePiece and Llama-HF readers see them.
    Its Llama-HF reader gives every score -1000, with which llama.cpp's tokenizer merges left to
    right and gets other ids; ours follow the merge ranks."""
    from lmforge.export.gguf_vocab import tokenizer_vocab

    for fmt, reader in (("spm", gguf.SentencePieceVocab), ("llama-json", gguf.LlamaHfVocab),
                        ("mistral-json", gguf.LlamaHfVocab)):
        _, ext_dir, _ = extended[fmt]
        ours = tokenizer_vocab(ext_dir, Tokenizer.from_dir(ext_dir))
        theirs = list(reader(ext_dir).all_tokens())
        assert ours.tokens == [t.decode("utf-8") for t, _, _ in theirs]
        same_type = [a == int(b) or (a, int(b)) == (gguf.TokenType.UNKNOWN, gguf.TokenType.CONTROL)
                     for a, (_, _, b) in zip(ours.types, theirs)]
        assert all(same_type), [(t, a) for t, a, s in zip(ours.tokens, ours.types, same_type) if not s][:5]
        if fmt == "spm":
            assert ours.scores == pytest.approx([s for _, s, _ in theirs])
        else:
            text, tok = "Whether 'tis nobler in the mind to suffer", Tokenizer.from_dir(ext_dir)
            flat = _spm_encode(text, ours.tokens, [s for _, s, _ in theirs], True)
            assert flat != tok.encode(text) == _spm_encode(text, ours.tokens, ours.scores, True)


def test_extend_refuses_an_unsupported_tokenizer_json(tmp_path):
    from tokenizers import Tokenizer as HF
    from tokenizers import models, pre_tokenizers

    from lmforge.tokenizer import TokenizerError

    tok = HF(models.WordPiece({"[UNK]": 0, "a": 1}, unk_token="[UNK]"))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    (tmp_path / "wp").mkdir()
    tok.save(str(tmp_path / "wp" / "tokenizer.json"))
    with pytest.raises(TokenizerError, match=re.escape("a WordPiece model with pre-tokenizer Whitespace")):
        extend_tokenizer(tmp_path / "wp", tmp_path / "wp", tmp_path / "out")


def test_base_with_only_a_sentencepiece_model(extended, tmp_path):
    """A base folder with tokenizer.model and no tokenizer.json (Meta's and Chinese-LLaMA's
    releases), extended with a bare .model file: the new tokenizer.model and tokenizer.json agree,
    and transformers reads the older normalizer form as lmforge does."""
    import shutil

    from transformers import AutoTokenizer

    spm_base, spm_ext, _ = extended["spm"]
    base = tmp_path / "base"
    base.mkdir()
    for name in ("tokenizer.model", "tokenizer_config.json", "chat_template.jinja"):
        shutil.copy(spm_base / name, base / name)
    info = extend_tokenizer(base, spm_ext / "tokenizer.model", tmp_path / "ext")
    assert info["format"] == "sentencepiece" and info["added"] > 1000
    ext = Tokenizer.from_dir(tmp_path / "ext")
    sp = spm.SentencePieceProcessor(model_file=str(tmp_path / "ext" / "tokenizer.model"))
    theirs = AutoTokenizer.from_pretrained(tmp_path / "ext")
    chat = render(ext, CHAT[:3])[0]
    assert _template_ids(theirs, CHAT[:3]) == chat
    for text in (MIXED, F.english(held_out=True)[:3000]):
        assert sp.encode(text) == ext.encode(text) == theirs(text, add_special_tokens=False)["input_ids"]


def test_unigram_sentencepiece_base(tmp_path, chinese_held_out, extended):
    """A unigram SentencePiece base takes a unigram addition's pieces with their own scores; a BPE
    base refuses a unigram addition."""
    from lmforge.tokenizer import TokenizerError

    from lmforge.tokenizer.train import train_tokenizer

    train_tokenizer(F.english(chars=150_000).split("\n\n"), 1500, tmp_path / "base", "sentencepiece-unigram")
    train_tokenizer(F.reviews("pos", 100_000).splitlines(), 4000, tmp_path / "zh", "sentencepiece-unigram")
    info = extend_tokenizer(tmp_path / "base", tmp_path / "zh", tmp_path / "ext")
    base, ext = Tokenizer.from_dir(tmp_path / "base"), Tokenizer.from_dir(tmp_path / "ext")
    assert info["added"] > 2000 and all(ext.tok.id_to_token(i) == base.tok.id_to_token(i) for i in range(1500))
    english, chinese = F.english(held_out=True)[:20_000], chinese_held_out[:5000]
    assert ext.encode(english) == base.encode(english)
    assert len(ext.encode(chinese)) < 0.5 * len(base.encode(chinese))
    sp = spm.SentencePieceProcessor(model_file=str(tmp_path / "ext" / "tokenizer.model"))
    assert sp.encode(chinese[:2000]) == ext.encode(chinese[:2000])
    with pytest.raises(TokenizerError, match="must be BPE too, not Unigram"):
        extend_tokenizer(extended["llama-json"][0], tmp_path / "zh" / "tokenizer.model", tmp_path / "x")


@pytest.mark.parametrize("fmt", ["spm", "llama-json", "bytelevel"])
def test_extension_stops_at_the_asked_vocabulary_size(extended, tmp_path, fmt):
    """Chinese-LLaMA's 49,953 in miniature: the first new pieces up to the asked size, base ids kept."""
    base_dir, full_dir, info = extended[fmt]
    target = info["base_vocab"] + 500
    got = extend_tokenizer(base_dir, full_dir, tmp_path / "ext", vocab_size=target)
    assert got["vocab"] == target and got["added"] == 500
    small, full = Tokenizer.from_dir(tmp_path / "ext").tok.get_vocab(), Tokenizer.from_dir(full_dir).tok.get_vocab()
    assert {p: i for p, i in full.items() if i < target} == small  # a prefix of the full extension
    with pytest.raises(ValueError, match="has only .* new pieces"):
        extend_tokenizer(base_dir, full_dir, tmp_path / "too-big", vocab_size=info["vocab"] + 10_000)
    assert not (tmp_path / "too-big").exists()
