"""The three tokenizer formats real base models ship, told apart from their files:

- `sentencepiece`: a SentencePiece `tokenizer.model` (Llama-2, Mistral, Chinese-LLaMA), usually
  with a transformers tokenizer.json beside it;
- `metaspace-bpe`: only a tokenizer.json whose BPE model has byte fallback (<0xXX> pieces) and
  "▁" for spaces, from a Metaspace pre-tokenizer or a Prepend/Replace normalizer (how
  transformers stores Llama-2/Mistral tokenizers);
- `bytelevel-bpe`: a byte-level BPE tokenizer.json (GPT-2, Llama-3, Qwen2).

The first two share one piece alphabet ("▁" words, byte fallback), so one can extend the other.
"""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path
from typing import Any

from tokenizers.pre_tokenizers import ByteLevel

from lmforge.tokenizer.core import Tokenizer, TokenizerError, read_config
from lmforge.tokenizer.spm import MODEL_FILE, from_sentencepiece

KINDS = ("sentencepiece", "metaspace-bpe", "bytelevel-bpe")
FAMILY = {"sentencepiece": "sentencepiece", "metaspace-bpe": "sentencepiece", "bytelevel-bpe": "bytelevel"}
# llama.cpp's names for the pre-tokenizer regexes it knows, by the regex a tokenizer.json splits with
LLAMACPP_PRE = {
    r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*"
    r"|\s*[\r\n]+|\s+(?!\S)|\s+": "llama-bpe",
    r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*"
    r"|\s*[\r\n]+|\s+(?!\S)|\s+": "qwen2",
}


def json_kind(spec: dict[str, Any]) -> str | None:
    """`metaspace-bpe`, `bytelevel-bpe` or None for a parsed tokenizer.json."""
    model = spec.get("model") or {}
    if model.get("type") != "BPE":
        return None
    pre, norm = json.dumps(spec.get("pre_tokenizer")), json.dumps(spec.get("normalizer"), ensure_ascii=False)
    if '"ByteLevel"' in pre:
        return "bytelevel-bpe"
    if model.get("byte_fallback") and ('"Metaspace"' in pre or "▁" in norm):
        return "metaspace-bpe"
    return None


def folder_kind(folder: Path) -> str:
    """The format of a tokenizer folder (or a bare SentencePiece .model file)."""
    if folder.suffix == ".model" and folder.is_file() or (folder / MODEL_FILE).is_file():
        return "sentencepiece"
    path = folder / "tokenizer.json"
    if not path.is_file():
        raise TokenizerError(f"{folder}: no tokenizer.json or {MODEL_FILE} (not a tokenizer folder)")
    spec = json.loads(path.read_text(encoding="utf-8"))
    kind = json_kind(spec)
    if kind is None:
        model = (spec.get("model") or {}).get("type")
        raise TokenizerError(f"{path}: a {model} model with pre-tokenizer "
                             f"{(spec.get('pre_tokenizer') or {}).get('type')}; extension supports "
                             "SentencePiece (tokenizer.model), BPE with byte fallback and Metaspace "
                             "(Llama-2/Mistral tokenizer.json) and byte-level BPE (Llama-3/Qwen2)")
    return kind


def load_tokenizer(folder: Path) -> Tokenizer:
    """A tokenizer folder; one with only a SentencePiece tokenizer.model is converted."""
    model = folder / MODEL_FILE
    if not (folder / "tokenizer.json").is_file() and model.is_file():
        return Tokenizer(from_sentencepiece(model), read_config(folder))
    return Tokenizer.from_dir(folder)


def prepends_space(spec: dict[str, Any]) -> bool:
    """Whether a Metaspace-style tokenizer puts "▁" before the text (SentencePiece's dummy prefix)."""
    pre, norm = spec.get("pre_tokenizer") or {}, json.dumps(spec.get("normalizer"), ensure_ascii=False)
    metas = [p for p in pre.get("pretokenizers", [pre]) if p.get("type") == "Metaspace"]
    if metas:
        m = metas[0]
        return m.get("prepend_scheme", "always" if m.get("add_prefix_space", True) else "never") != "never"
    return '"Prepend"' in norm


def llamacpp_pre(spec: dict[str, Any], config: dict[str, Any]) -> str:
    """llama.cpp's pre-tokenizer name for a byte-level tokenizer ("default" when not known)."""
    if config.get("lmforge_pretokenizer"):
        return config["lmforge_pretokenizer"]
    pre = spec.get("pre_tokenizer") or {}
    for p in pre.get("pretokenizers", [pre]):
        regex = (p.get("pattern") or {}).get("Regex") if p.get("type") == "Split" else None
        if regex in LLAMACPP_PRE:
            return LLAMACPP_PRE[regex]
    if pre.get("type") == "ByteLevel" and pre.get("use_regex", True):
        return "gpt-2"
    return "default"


def merge_pairs(merges: list) -> list[tuple[str, str]]:
    """tokenizer.json merges in either form ("a b" strings or [a, b] pairs) as pairs."""
    return [tuple(m.split(" ", 1)) if isinstance(m, str) else (m[0], m[1]) for m in merges]


# ---- which pieces are English ------------------------------------------------------------
def byte_level_bytes(token: str) -> bytes | None:
    """The bytes a byte-level BPE piece stands for (None if it is not one)."""
    try:
        return bytes(_byte_table()[c] for c in token)
    except KeyError:
        return None


@lru_cache(maxsize=1)
def _byte_table() -> dict[str, int]:
    """GPT-2's byte -> printable character table, inverted (character -> byte)."""
    printable = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + \
        list(range(ord("®"), ord("ÿ") + 1))
    chars, n = {}, 0
    for b in range(256):
        if b in printable:
            chars[b] = chr(b)
        else:
            chars[b] = chr(256 + n)
            n += 1
    assert set(chars.values()) >= set(ByteLevel.alphabet())
    return {ch: b for b, ch in chars.items()}


def is_ascii_piece(piece: str, byte_level: bool) -> bool:
    """A piece made only of ASCII (and "▁"): adding it could change how English tokenizes."""
    if byte_level:
        raw = byte_level_bytes(piece)
        return raw is not None and all(b < 128 for b in raw)
    return all(ord(c) < 128 or c == "▁" for c in piece)


# ---- extending a BPE tokenizer.json -------------------------------------------------------
def extend_bpe(base: dict[str, Any], extra: dict[str, Any], byte_level: bool,
               max_new: int | None = None) -> tuple[dict[str, Any], list[str]]:
    """`base` (a parsed BPE tokenizer.json, changed in place) with the non-ASCII pieces of `extra`:
    its new single characters, then every merge of `extra` whose parts the result already has, in
    `extra`'s merge order, each new merged piece getting the next id. Base ids, base merges and
    their order are untouched; new merges rank after all base merges; at most `max_new` new
    pieces (the first ones in that order). Returns (base, new pieces)."""
    vocab: dict[str, int] = base["model"]["vocab"]
    taken = list(vocab.values()) + [t["id"] for t in base.get("added_tokens", [])]
    next_id = max(taken) + 1
    skip = {t["content"] for t in base.get("added_tokens", []) + extra.get("added_tokens", [])}
    new: list[str] = []

    def add(piece: str) -> None:
        nonlocal next_id
        vocab[piece] = next_id
        next_id += 1
        new.append(piece)

    room = (lambda: True) if max_new is None else (lambda: len(new) < max_new)
    for piece, _ in sorted(extra["model"]["vocab"].items(), key=lambda kv: kv[1]):
        if len(piece) == 1 and room() and piece not in vocab and piece not in skip and not is_ascii_piece(piece, byte_level):
            add(piece)
    merges = merge_pairs(base["model"]["merges"])
    have = set(merges)
    for a, b in merge_pairs(extra["model"].get("merges", [])):
        piece = a + b
        if (a, b) in have or piece in skip or a not in vocab or b not in vocab or is_ascii_piece(piece, byte_level):
            continue
        if piece not in vocab:
            if not room():
                continue
            add(piece)
        merges.append((a, b))
        have.add((a, b))
    base["model"]["merges"] = [list(m) for m in merges]
    return base, new
