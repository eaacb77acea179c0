"""Tokenizer efficiency report: chars/token per language, byte-fallback rate, round trip, overlap."""

from __future__ import annotations

import re
from typing import Any, Iterable

from lmforge.data.read import read_documents
from lmforge.report import markdown_table
from lmforge.text import count_cjk, language
from lmforge.tokenizer.core import Tokenizer, TokenizerError

_BYTE_PIECE = re.compile(r"^<0x[0-9A-F]{2}>$")


def measure(tok: Tokenizer, docs: list[str]) -> dict[str, float]:
    ids = tok.encode_batch(docs)
    n_tokens = sum(map(len, ids))
    chars = sum(map(len, docs))
    cjk = sum(map(count_cjk, docs))
    pieces = [tok.tok.id_to_token(i) for seq in ids for i in seq]
    fallback = sum(1 for p in pieces if p and _BYTE_PIECE.match(p))
    unk = sum(1 for seq in ids for i in seq if i == tok.token_id(tok.config.get("unk_token")))
    exact = sum(tok.decode(seq) == d for seq, d in zip(ids, docs))
    return {"documents": len(docs), "chars": chars, "tokens": n_tokens,
            "chars_per_token": chars / max(1, n_tokens),
            "tokens_per_cjk_char": n_tokens / cjk if cjk else None,
            "byte_fallback_rate": fallback / max(1, n_tokens), "unk_rate": unk / max(1, n_tokens),
            "round_trip_exact": exact / max(1, len(docs))}


def sample_by_language(docs: Iterable[str], max_chars: int, scan_factor: int = 20) -> dict[str, list[str]]:
    """Documents per language ("zh", "en", "other"), about max_chars in all (plus the last
    document taken): an equal share each, and a share one language cannot fill goes to the others.

    A corpus written one language after the other (en.jsonl then zh.jsonl) gets a row for each
    language, not only for the first one; reading stops when zh and en hold half of max_chars
    each, or after scan_factor * max_chars characters (a one-language corpus is not read to its end)."""
    pools: dict[str, list[str]] = {"zh": [], "en": [], "other": []}
    sizes = dict.fromkeys(pools, 0)
    seen = 0
    for d in docs:
        lang = language(d)
        if sizes[lang] < max_chars:
            pools[lang].append(d)
            sizes[lang] += len(d)
        seen += len(d)
        if min(sizes["zh"], sizes["en"]) >= max_chars // 2 or seen >= scan_factor * max_chars:
            break
    shares = _fair_shares(sizes, max_chars)
    return {lang: _take(pool, shares[lang]) for lang, pool in pools.items()}


def _fair_shares(sizes: dict[str, int], total: int) -> dict[str, int]:
    """Split `total` equally, the smallest first, so what one cannot use goes to the rest."""
    shares, left = {}, total
    order = sorted(sizes, key=sizes.get)
    for i, lang in enumerate(order):
        shares[lang] = min(sizes[lang], left // (len(order) - i))
        left -= shares[lang]
    return shares


def _take(pool: list[str], chars: int) -> list[str]:
    out, n = [], 0
    for d in pool:
        if n >= chars:
            break
        out.append(d)
        n += len(d)
    return out


def tokenizer_stats(tokenizer_dir: str, inputs: list[str], text_field: str = "text",
                    compare: str | None = None, max_chars: int = 2_000_000) -> dict[str, Any]:
    docs = sample_by_language(read_documents(inputs, text_field=text_field), max_chars)
    if not any(docs.values()):
        raise TokenizerError(f"{', '.join(map(str, inputs))}: no document with text to measure")
    result: dict[str, Any] = {"tokenizer": tokenizer_dir}
    toks = {"this": Tokenizer.from_dir(tokenizer_dir)}
    if compare:
        toks["compare"] = Tokenizer.from_dir(compare)
    for name, tok in toks.items():
        result[name] = {"vocab_size": tok.vocab_size,
                        **{lang: measure(tok, ds) for lang, ds in docs.items() if ds}}
    if compare:
        a, b = set(toks["this"].tok.get_vocab()), set(toks["compare"].tok.get_vocab())
        result["vocab_overlap"] = {"shared": len(a & b), "jaccard": len(a & b) / len(a | b)}
        result["token_ratio_vs_compare"] = {
            lang: result["this"][lang]["tokens"] / result["compare"][lang]["tokens"]
            for lang in docs if docs[lang]}
    return result


def format_stats(r: dict[str, Any]) -> str:
    rows = []
    for name in ("this", "compare"):
        for lang in ("zh", "en", "other"):
            if name in r and lang in r[name]:
                rows.append({"tokenizer": name, "lang": lang, "vocab": r[name]["vocab_size"],
                             **{k: v for k, v in r[name][lang].items() if v is not None}})
    out = markdown_table(rows)
    if "vocab_overlap" in r:
        out += f"\n\nvocabulary overlap: {r['vocab_overlap']}\ntoken ratio vs compare: {r['token_ratio_vs_compare']}"
    return out
