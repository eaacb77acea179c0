"""The tokenizer part of a GGUF file, for each format a base ships (lmforge/tokenizer/formats.py):

- SentencePiece `tokenizer.model`: llama.cpp's "llama" (SPM) vocabulary with the model's own
  scores and piece types, as llama.cpp's converter writes it;
- tokenizer.json BPE with byte fallback and Metaspace (Llama-2/Mistral without tokenizer.model):
  also "llama". llama.cpp's SPM tokenizer merges the adjacent pair with the highest score, so each
  merged piece's score is minus the rank of the first merge making it (llama.cpp's own converter
  writes -1000 for every piece here, which loses the merge order); <0xXX> pieces are BYTE;
- byte-level BPE: "gpt2" with the merges and the pre-tokenizer regex's llama.cpp name.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import gguf

from lmforge.errors import UserError
from lmforge.tokenizer.core import Tokenizer
from lmforge.tokenizer.formats import (
    json_kind,
    llamacpp_pre,
    merge_pairs,
    prepends_space,
)
from lmforge.tokenizer.spm import MODEL_FILE

BYTE_PIECE = re.compile(r"<0x[0-9A-Fa-f]{2}>")
ADDED_SCORE = -1000.0  # what llama.cpp's converter gives tokens added after the SentencePiece model


@dataclass
class Vocab:
    model: str  # tokenizer.ggml.model
    pre: str
    tokens: list[str]
    types: list[int]
    scores: list[float] | None = None
    merges: list[str] | None = None
    add_space_prefix: bool | None = None


def _added(tok: Tokenizer) -> dict[int, bool]:
    """id -> special, for the tokenizer.json's added tokens."""
    return {i: t.special for i, t in tok.tok.get_added_tokens_decoder().items()}


def _spm_vocab(model_file: Path, tok: Tokenizer, spec: dict[str, Any]) -> Vocab:
    """The SentencePiece model's pieces, scores and types (the proto's types are GGUF's types),
    then any tokens tokenizer.json added after them."""
    from sentencepiece import sentencepiece_model_pb2 as pb

    proto = pb.ModelProto()
    proto.ParseFromString(model_file.read_bytes())
    added = _added(tok)
    tokens, scores, types = [], [], []
    for i, p in enumerate(proto.pieces):
        if tok.tok.id_to_token(i) != p.piece:
            raise UserError(f"{model_file}: piece {i} is {p.piece!r} but tokenizer.json has "
                            f"{tok.tok.id_to_token(i)!r}; the two tokenizer files disagree")
        tokens.append(p.piece)
        scores.append(p.score)
        promote = added.get(i) and p.type in (p.NORMAL, p.USER_DEFINED)  # special in tokenizer.json
        types.append(gguf.TokenType.CONTROL if promote else int(p.type))
    for i in range(len(tokens), tok.vocab_size):
        tokens.append(tok.tok.id_to_token(i))
        scores.append(ADDED_SCORE)
        types.append(gguf.TokenType.CONTROL if added.get(i) else gguf.TokenType.USER_DEFINED)
    return Vocab("llama", "default", tokens, types, scores,
                 add_space_prefix=proto.normalizer_spec.add_dummy_prefix)


def _by_id(tok: Tokenizer) -> list[str | None]:
    vocab = tok.tok.get_vocab(with_added_tokens=True)
    out: list[str | None] = [None] * (max(vocab.values()) + 1)
    for t, i in vocab.items():
        out[i] = t
    return out


def _type(i: int, token: str | None, added: dict[int, bool], unk: str | None) -> int:
    if token is None:
        return gguf.TokenType.UNUSED
    if i in added:
        return gguf.TokenType.CONTROL if added[i] else gguf.TokenType.USER_DEFINED
    if token == unk:
        return gguf.TokenType.UNKNOWN
    return gguf.TokenType.NORMAL


def _metaspace_vocab(tok: Tokenizer, spec: dict[str, Any]) -> Vocab:
    """SPM-style vocabulary from a tokenizer.json: scores follow the merge ranks."""
    rank: dict[str, float] = {}
    for r, (a, b) in enumerate(merge_pairs(spec["model"]["merges"])):
        rank.setdefault(a + b, -float(r + 1))
    by_id, added, unk = _by_id(tok), _added(tok), spec["model"].get("unk_token")
    types = [gguf.TokenType.BYTE if t is not None and i not in added and BYTE_PIECE.fullmatch(t)
             else _type(i, t, added, unk) for i, t in enumerate(by_id)]
    tokens = [t if t is not None else f"[PAD{i}]" for i, t in enumerate(by_id)]
    scores = [rank.get(t, 0.0) if t is not None and i not in added else ADDED_SCORE
              for i, t in enumerate(by_id)]
    return Vocab("llama", "default", tokens, types, scores, add_space_prefix=prepends_space(spec))


def _bytelevel_vocab(tok: Tokenizer, spec: dict[str, Any]) -> Vocab:
    by_id, added = _by_id(tok), _added(tok)
    tokens = [t if t is not None else f"[PAD{i}]" for i, t in enumerate(by_id)]
    types = [_type(i, t, added, None) for i, t in enumerate(by_id)]
    # a space inside a piece is written as U+0120, as llama.cpp's converter does
    merges = [" ".join(p.replace(" ", "\u0120") for p in m) for m in merge_pairs(spec["model"]["merges"])]
    if not merges:  # llama.cpp refuses a BPE vocab without merges; a pair of special
        merges = [f"{tokens[0]} {tokens[0]}"]  # tokens never occurs inside text, so it's inert
    return Vocab("gpt2", llamacpp_pre(spec, tok.config), tokens, types, merges=merges)


def tokenizer_vocab(model_dir: Path, tok: Tokenizer) -> Vocab:
    """The GGUF vocabulary of a model folder's tokenizer, whichever of the three formats it is."""
    spec = json.loads(tok.tok.to_str())
    if (model_dir / MODEL_FILE).is_file():
        return _spm_vocab(model_dir / MODEL_FILE, tok, spec)
    kind = json_kind(spec)
    if kind == "metaspace-bpe":
        return _metaspace_vocab(tok, spec)
    if kind == "bytelevel-bpe":
        return _bytelevel_vocab(tok, spec)
    raise UserError(f"{model_dir}: GGUF export needs a SentencePiece tokenizer.model, a tokenizer.json BPE "
                    "with byte fallback and Metaspace (Llama-2 style) or a byte-level BPE (Llama-3/Qwen2)")


def _adds_bos(tok: Tokenizer, spec: dict[str, Any]) -> bool:
    """tokenizer_config's add_bos_token, else whether the post-processor puts BOS first."""
    if "add_bos_token" in tok.config:
        return bool(tok.config["add_bos_token"])
    single = (spec.get("post_processor") or {}).get("single") or [{}]
    first = single[0].get("SpecialToken", {}).get("id")
    bos = tok.config.get("bos_token")
    return first is not None and first == (bos.get("content") if isinstance(bos, dict) else bos)


def add_tokenizer(w: gguf.GGUFWriter, model_dir: Path, tok: Tokenizer, vocab_size: int) -> None:
    """Write the tokenizer keys: model, pre, tokens, types (+ scores, merges), special ids, template."""
    v = tokenizer_vocab(model_dir, tok)
    if len(v.tokens) > vocab_size:
        raise UserError(f"{model_dir}: tokenizer has {len(v.tokens)} tokens, the model only {vocab_size}")
    for i in range(len(v.tokens), vocab_size):  # embedding rows past the tokenizer
        v.tokens.append(f"[PAD{i}]")
        v.types.append(gguf.TokenType.UNUSED)
        if v.scores is not None:
            v.scores.append(ADDED_SCORE)
    w.add_tokenizer_model(v.model)
    w.add_tokenizer_pre(v.pre)
    w.add_token_list(v.tokens)
    w.add_token_types(v.types)
    if v.scores is not None:
        w.add_token_scores(v.scores)
    if v.merges is not None:
        w.add_token_merges(v.merges)
    if v.add_space_prefix is not None:
        w.add_add_space_prefix(v.add_space_prefix)
    for key, add in (("bos", w.add_bos_token_id), ("eos", w.add_eos_token_id),
                     ("unk", w.add_unk_token_id), ("pad", w.add_pad_token_id)):
        tid = tok._special(key)
        if tid is not None:
            add(tid)
    w.add_add_bos_token(_adds_bos(tok, json.loads(tok.tok.to_str())))
    w.add_add_eos_token(False)
    if tok.chat_template:
        w.add_chat_template(tok.chat_template)
