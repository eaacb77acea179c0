"""llama.cpp runs lmforge's GGUF export of a tiny model for each tokenizer format a real base
ships (SentencePiece tokenizer.model; tokenizer.json BPE + byte fallback + Metaspace, in the
Metaspace and the older normalizer form; byte-level BPE), each extended with Chinese pieces as
`lmforge tokenizer extend` does: the same token ids on mixed Chinese/English text (base and
extended tokenizer), the same greedy tokens from the f32 file, and q8_0's top-1 agreement with
lmforge's logits on held-out text (reported with its interval, and bounded)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from lmforge.data.corpus import hsk_pairs
from lmforge.export.gguf import export_gguf
from lmforge.model import build_model, load_model, preset, save_model
from lmforge.model.generate import SamplingParams, generate
from lmforge.tokenizer import Tokenizer
from lmforge.tokenizer.extend import extend_tokenizer
from tests.conftest import MIXED_TEXT
from tests.llamacpp.agreement import (
    llama_greedy,
    llama_logits,
    lmforge_logits,
    open_gguf,
    train_tiny,
    wilson,
)
from tests.tokenizer import formats as F

ADD_SIZE = 4000
NEW_TOKENS = 32
PROMPTS = ["The king said to", "今天天气很好，我们", "Once upon a time, there was a", "中共中央总书记",
           "混合 English 和中文 text"]
EDGE_TEXTS = [
    MIXED_TEXT,
    "Hello world! 你好，世界。The year 2024 has 366 days; 二〇二四年有三百六十六天。",
    "def f(x):\n    return x ** 2  # 平方\n",
    "全角标点：“引号”、（括号）！？……——《书名》",
    "Two  spaces,   three, trailing   ",
    "１２３ ＡＢＣ full-width digits and letters",
]
LEADING_SPACE_TEXTS = [
    "  leading spaces, tabs\tand\nnew lines\n\n混合 English 和中文 text, numbers 3.14159 and 🦊 emoji.",
    " Hello 你好"]
Q8_MIN_TOP1 = 0.9  # below this q8_0 is broken, not merely rounded


def mixed_texts() -> list[str]:
    """Held-out English (Twelfth Night) and Chinese (negative reviews; the extension was trained
    on the positive ones) interleaved, HSK sentence pairs, and edge cases."""
    en = [p.strip() for p in F.english(held_out=True).split("\n\n") if len(p.strip()) > 40][20:80]
    zh = [line for line in F.reviews("neg", 30_000).splitlines() if len(line) > 20][:60]
    pairs = [p["zh"] + " " + p["en"] for p in hsk_pairs()[:40] if p.get("zh") and p.get("en")]
    mixed = [f"{a}\n{b}" if i % 2 else f"{b} {a}" for i, (a, b) in enumerate(zip(en, zh))]
    return EDGE_TEXTS + LEADING_SPACE_TEXTS + mixed + pairs


def training_texts() -> list[str]:
    return (F.english(chars=150_000).split("\n\n") + F.peoples_daily(60_000).splitlines()
            + F.reviews("pos", 60_000).splitlines())


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """format -> {base, ext, model, f32, q8_0, base_gguf}, built on first use."""
    root = tmp_path_factory.mktemp("llamacpp-formats")
    zh = root / "zh.jsonl"
    zh.write_text("\n".join(json.dumps({"text": t}, ensure_ascii=False)
                            for t in F.reviews("pos", 150_000).splitlines() if t.strip()), encoding="utf-8")
    texts, cache = training_texts(), {}

    def get(fmt: str) -> dict:
        if fmt not in cache:
            base = F.MAKERS[fmt](root / f"base-{fmt}")
            ext = root / f"ext-{fmt}"
            extend_tokenizer(base, None, ext, train_on=[str(zh)], add_size=ADD_SIZE)
            model = train_tiny(ext, root / f"model-{fmt}", texts)
            cache[fmt] = {"base": base, "ext": ext, "model": model,
                          "base_gguf": _vocab_gguf(base, root / f"base-{fmt}.gguf"),
                          **{t: export_gguf(model, root / f"{fmt}-{t}.gguf", t) for t in ("f32", "q8_0")}}
        return cache[fmt]

    return get


def _vocab_gguf(tok_dir, out):
    """An untrained 1-layer model carrying the base tokenizer (llama.cpp opens it vocab-only)."""
    tok = Tokenizer.from_dir(tok_dir)
    cfg = preset("tiny", vocab_size=tok.vocab_size, hidden_size=32, intermediate_size=64,
                 num_hidden_layers=1, num_attention_heads=2, num_key_value_heads=1,
                 bos_token_id=tok.bos_id, eos_token_id=tok.eos_id)
    folder = save_model(build_model(cfg, seed=0), out.with_name(out.stem + "-model"), created_by="tests/llamacpp",
                        copy_from=tok_dir)
    return export_gguf(folder, out, "f32")


def _leading_space(llm, tok: Tokenizer, text: str) -> str:
    """How llama.cpp tokenizes a text that starts with a space. SentencePiece and llama.cpp always
    add the "▁" dummy prefix; a tokenizers Metaspace (prepend_scheme "first", as transformers
    writes Llama-2's tokenizer.json) adds none when the text already starts with one, so the
    two differ by exactly one "▁" there, which the GGUF keys cannot express."""
    theirs = llm.tokenize(text.encode(), add_bos=False, special=False)
    if theirs == tok.encode(text):
        return "equal"
    if theirs == tok.encode(" " + text):
        return "llama.cpp adds the dummy prefix; tokenizer.json does not"
    return "differs"


def _ids_agreement(tok_dir, gguf_path) -> dict:
    tok, llm = Tokenizer.from_dir(tok_dir), open_gguf(gguf_path, vocab_only=True)
    try:
        texts = [t for t in mixed_texts() if not t.startswith(" ")]
        bad = [t for t in texts if llm.tokenize(t.encode(), add_bos=False, special=False) != tok.encode(t)]
        bos_same = llm.tokenize(texts[0].encode(), add_bos=True, special=False) == tok.encode(texts[0], add_bos=True)
        leading = {t[:12]: _leading_space(llm, tok, t) for t in LEADING_SPACE_TEXTS}
    finally:
        llm.close()
    n_tokens = sum(len(tok.encode(t)) for t in texts)
    return {"texts_equal": f"{len(texts) - len(bad)}/{len(texts)}", "tokens": n_tokens,
            "bos_equal": bos_same, "first_different": bad[:3], "vocab": tok.vocab_size,
            "leading_space": leading}


@pytest.mark.parametrize("fmt", F.FORMATS)
def test_token_ids_agree(built, report, fmt):
    b = built(fmt)
    got = {"base": _ids_agreement(b["base"], b["base_gguf"]), "extended": _ids_agreement(b["ext"], b["f32"])}
    report.setdefault(fmt, {})["token_ids"] = got
    print(f"\n{fmt}: token ids " + json.dumps(got, ensure_ascii=False))
    for which, r in got.items():
        assert not r["first_different"] and r["bos_equal"], (which, r)
        assert "differs" not in r["leading_space"].values(), (which, r)


@pytest.mark.parametrize("fmt", F.FORMATS)
def test_f32_greedy_tokens_agree(built, report, fmt):
    b = built(fmt)
    model, tok = load_model(b["model"]), Tokenizer.from_dir(b["model"])
    llm = open_gguf(b["f32"])
    try:
        prompts = [tok.encode(p, add_bos=True) for p in PROMPTS]
        ours = generate(model, prompts, SamplingParams(max_new_tokens=NEW_TOKENS))
        theirs = [llama_greedy(llm, p, NEW_TOKENS) for p in prompts]
        diff = max(float(np.abs(llama_logits(llm, p + o) - lmforge_logits(model, p + o)).max())
                   for p, o in zip(prompts, ours))
    finally:
        llm.close()
    same = sum(a == b for a, b in zip(ours, theirs))
    report.setdefault(fmt, {})["f32_greedy"] = {
        "prompts_equal": f"{same}/{len(prompts)} x {NEW_TOKENS} tokens", "max_abs_logit_diff": diff,
        "sample": {"lmforge": tok.decode(ours[1]), "llama.cpp": tok.decode(theirs[1])}}
    print(f"\n{fmt}: f32 greedy {same}/{len(prompts)} prompts equal, max |logit diff| {diff:.2e}")
    assert ours == theirs
    assert diff < 1e-3


def _held_out_sequences(tok: Tokenizer) -> list[list[int]]:
    """Six 128-token windows of held-out text, three English and three Chinese."""
    en = tok.encode(F.english(held_out=True)[5_000:25_000])
    zh = tok.encode(F.reviews("neg", 30_000)[10_000:])
    return [[tok.bos_id] + s[i * 128:(i + 1) * 128] for s in (en, zh) for i in range(3)]


@pytest.mark.parametrize("fmt", F.FORMATS)
def test_q8_0_top1_agreement(built, report, fmt):
    b = built(fmt)
    model, tok = load_model(b["model"]), Tokenizer.from_dir(b["model"])
    hits, n = {"f32": 0, "q8_0": 0}, 0
    seqs = _held_out_sequences(tok)
    refs = [lmforge_logits(model, s).argmax(-1) for s in seqs]
    for t in hits:
        llm = open_gguf(b[t])
        try:
            hits[t] = sum(int((llama_logits(llm, s).argmax(-1) == r).sum()) for s, r in zip(seqs, refs))
        finally:
            llm.close()
    n = sum(len(s) for s in seqs)
    got = {t: {"top1": round(k / n, 4), "n": n, "interval95": wilson(k, n)} for t, k in hits.items()}
    report.setdefault(fmt, {})["top1_vs_lmforge"] = got
    print(f"\n{fmt}: top-1 agreement with lmforge on held-out text " + json.dumps(got))
    assert hits["f32"] >= n - 1, got  # a tie at most
    assert hits["q8_0"] / n >= Q8_MIN_TOP1, got
