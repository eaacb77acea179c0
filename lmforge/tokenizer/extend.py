"""Vocabulary extension (Chinese-LLaMA): append a second tokenizer's pieces to a base one.

Works on the three formats real bases ship (lmforge/tokenizer/formats.py): a SentencePiece
`tokenizer.model`, a Llama-2/Mistral-style tokenizer.json (BPE, byte fallback, Metaspace) and a
byte-level BPE (Llama-3/Qwen2). Every base id, piece and merge stays as it was; new pieces get the
next ids and new merges rank after the base's. Pieces made only of ASCII are not added, so
English text tokenizes exactly as before.
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Any

from pydantic import Field, ValidationInfo, model_validator
from tokenizers import Tokenizer as HFTokenizer

from lmforge.data.ops import InputPaths, TextField, made_later
from lmforge.data.read import read_documents
from lmforge.errors import UserError
from lmforge.files import atomic_dir
from lmforge.tokenizer.core import Tokenizer, TokenizerError
from lmforge.tokenizer.formats import (
    FAMILY,
    extend_bpe,
    folder_kind,
    is_ascii_piece,
    load_tokenizer,
)
from lmforge.tokenizer.spm import MODEL_FILE, from_sentencepiece
from lmforge.tokenizer.train import train_tokenizer


class ExtendConfig(TextField):
    """Append the pieces of `add` (or of a tokenizer trained on `train_on`) to `base`."""

    out: str = Field(description="output folder: the extended tokenizer")
    base: str = Field(description="base tokenizer folder: SentencePiece tokenizer.model, Llama-2-style "
                                  "tokenizer.json (BPE, byte fallback, Metaspace) or byte-level BPE")
    add: str | None = Field(None, description="tokenizer folder (or SentencePiece .model) whose pieces to add")
    train_on: InputPaths = Field(default_factory=list, description="... or train the added tokenizer on these files")
    add_size: int = Field(8000, gt=0, description="vocabulary of the trained addition")
    vocab_size: int | None = Field(None, gt=0, description="size of the extended vocabulary: new pieces stop "
                                   "there (Chinese-LLaMA: 49953); an error if the addition has too few")

    @model_validator(mode="after")
    def _which(self, info: ValidationInfo) -> ExtendConfig:
        if (self.add is None) == (not self.train_on):
            raise UserError("give either `add` (a tokenizer) or `train_on` (files to train one on), not both")
        if not made_later(info):
            for key, folder in (("base", self.base), ("add", self.add)):
                if folder is not None and not Path(folder).exists():
                    raise UserError(f"{key}: {folder} not found")
        return self


def run_extend(cfg: ExtendConfig) -> dict[str, Any]:
    """`lmforge tokenizer extend`: {base_vocab, added, vocab, format, out}."""
    return extend_tokenizer(cfg.base, cfg.add, cfg.out, cfg.train_on or None, cfg.add_size, cfg.field,
                            cfg.vocab_size)


def extend_tokenizer(base: str | Path, add: str | Path | None, out: str | Path,
                     train_on: list[str] | None = None, add_size: int = 8000,
                     text_field: str = "text", vocab_size: int | None = None) -> dict[str, Any]:
    """Append the pieces of `add` (or of a tokenizer trained on `train_on`) to `base`, into `out`
    (up to `vocab_size` entries in all, when given)."""
    base = Path(base)
    base_kind = folder_kind(base)
    if add is not None:
        return _extend(base, base_kind, Path(add), Path(out), vocab_size)
    if not train_on:
        raise TokenizerError("give --add TOKENIZER or --train-on FILES")
    tok_type = "sentencepiece-bpe" if FAMILY[base_kind] == "sentencepiece" else "bytelevel-bpe"
    with tempfile.TemporaryDirectory(prefix="lmforge-added-") as tmp:
        train_tokenizer(read_documents(train_on, text_field=text_field), add_size, tmp, tok_type)
        return _extend(base, base_kind, Path(tmp), Path(out), vocab_size)


def _extend(base: Path, base_kind: str, add: Path, out: Path, vocab_size: int | None = None) -> dict[str, Any]:
    add_kind = folder_kind(add)
    if FAMILY[add_kind] != FAMILY[base_kind]:
        raise TokenizerError(f"cannot add a {add_kind} tokenizer ({add}) to a {base_kind} base ({base})")
    base_tok = load_tokenizer(base)
    spec = json.loads(base_tok.tok.to_str())
    max_new = _room(base_tok, vocab_size)
    with atomic_dir(out) as tmp:  # the folder appears complete or not at all
        if spec["model"]["type"] == "Unigram":  # a SentencePiece unigram base: extend the proto only
            if vocab_size is not None:
                raise TokenizerError(f"vocab_size: not supported for a unigram base ({base})")
            hf = _extend_unigram(base, add, tmp / MODEL_FILE, base_tok)
        else:
            spec, new = extend_bpe(spec, _addition_spec(add), byte_level=base_kind == "bytelevel-bpe",
                                   max_new=max_new)
            _check_reached(new, max_new, vocab_size, add)
            hf = HFTokenizer.from_str(json.dumps(spec, ensure_ascii=False))
            if base_kind == "sentencepiece":
                _extend_proto(base / MODEL_FILE, _proto_pieces(hf, _proto_size(base / MODEL_FILE), new),
                              tmp / MODEL_FILE)
        new_tok = Tokenizer(hf, _transformers_config(spec, base_tok.config))
        new_tok.save(tmp)
        old_vocab = base_tok.tok.get_vocab(with_added_tokens=True)
        new_vocab = new_tok.tok.get_vocab(with_added_tokens=True)
        changed = [p for p, i in old_vocab.items() if new_vocab.get(p) != i]
        if changed:
            raise TokenizerError(f"internal error: base ids changed for {changed[:5]}")
    return {"base_vocab": len(old_vocab), "added": len(new_vocab) - len(old_vocab), "vocab": len(new_vocab),
            "format": base_kind, "out": str(out)}


def _room(base_tok: Tokenizer, vocab_size: int | None) -> int | None:
    """How many pieces may be added to reach `vocab_size` (None: no limit)."""
    if vocab_size is None:
        return None
    have = len(base_tok.tok.get_vocab(with_added_tokens=True))
    if vocab_size <= have:
        raise TokenizerError(f"vocab_size: {vocab_size} is not larger than the base's {have} entries")
    return vocab_size - have


def _check_reached(new: list[str], max_new: int | None, vocab_size: int | None, add: Path) -> None:
    if max_new is not None and len(new) < max_new:
        raise TokenizerError(f"vocab_size: {vocab_size} asked, but the addition ({add}) has only {len(new)} new "
                             f"pieces of the {max_new} needed: train it larger (add_size) or on more text")


def _transformers_config(spec: dict[str, Any], config: dict[str, Any]) -> dict[str, Any]:
    """transformers 5's Llama tokenizer class rebuilds a tokenizer.json in the older Llama-2/Mistral
    form (a Prepend("▁") normalizer) as a Metaspace pre-tokenizer, which puts no "▁" after a
    special token where the file does (`<s>[INST]`); the plain class reads the file as lmforge does."""
    legacy = '"Prepend"' in json.dumps(spec.get("normalizer"))
    if legacy and config.get("tokenizer_class", "PreTrainedTokenizerFast") != "PreTrainedTokenizerFast":
        return {**config, "tokenizer_class": "PreTrainedTokenizerFast"}
    return config


def _proto_size(model_file: Path) -> int:
    from sentencepiece import sentencepiece_model_pb2 as pb

    model = pb.ModelProto()
    model.ParseFromString(model_file.read_bytes())
    return len(model.pieces)


def _addition_spec(add: Path) -> dict[str, Any]:
    """The addition as a parsed BPE tokenizer.json (a bare .model file is converted)."""
    hf = from_sentencepiece(add) if add.suffix == ".model" else load_tokenizer(add).tok
    spec = json.loads(hf.to_str())
    if spec["model"]["type"] != "BPE":
        raise TokenizerError(f"{add}: the addition to a BPE base must be BPE too, not {spec['model']['type']}")
    return spec


def _extend_unigram(base: Path, add: Path, out_model: Path, base_tok: Tokenizer) -> HFTokenizer:
    from sentencepiece import sentencepiece_model_pb2 as pb

    add_model = add if add.suffix == ".model" else add / MODEL_FILE
    if not add_model.is_file():
        raise TokenizerError(f"{add}: a SentencePiece unigram base needs a SentencePiece addition ({MODEL_FILE})")
    extra = pb.ModelProto()
    extra.ParseFromString(add_model.read_bytes())
    have = {p for p in base_tok.tok.get_vocab(with_added_tokens=True)}
    pieces = [(p.piece, p.score, p.type) for p in extra.pieces if p.type == pb.ModelProto.SentencePiece.NORMAL
              and p.piece not in have and not is_ascii_piece(p.piece, False)]
    _extend_proto(base / MODEL_FILE, pieces, out_model)
    hf = from_sentencepiece(out_model)
    for t in base_tok.tok.get_added_tokens_decoder().values():
        if hf.token_to_id(t.content) is None:
            hf.add_special_tokens([t.content])
    return hf


def _proto_pieces(hf: HFTokenizer, proto_size: int, new: list[str]) -> list[tuple[str, float | None, int]]:
    """The tokenizer.json's ids from the proto's end on: added tokens that sit between the proto
    and the new pieces become user-defined pieces, so both files keep giving every id one piece."""
    from sentencepiece import sentencepiece_model_pb2 as pb

    new_set, out = set(new), []
    for i in range(proto_size, hf.get_vocab_size(with_added_tokens=True)):
        piece = hf.id_to_token(i)
        if piece is None:
            raise TokenizerError(f"tokenizer.json has no token with id {i}; the SentencePiece model "
                                 f"has {proto_size} pieces")
        kind = pb.ModelProto.SentencePiece.NORMAL if piece in new_set else pb.ModelProto.SentencePiece.USER_DEFINED
        out.append((piece, None if piece in new_set else 0.0, kind))
    return out


def _extend_proto(base_model: Path, pieces: list[tuple[str, float | None, int]], out_model: Path) -> int:
    """Append (piece, score, type) to a SentencePiece model. A score of None continues the base's
    scores downwards (-1 per piece), so SentencePiece and llama.cpp, which merge by score, apply
    new pieces after all base pieces, in the order of the tokenizer.json's merges."""
    from sentencepiece import sentencepiece_model_pb2 as pb

    model = pb.ModelProto()
    model.ParseFromString(base_model.read_bytes())
    have = {p.piece for p in model.pieces}
    score = min((p.score for p in model.pieces if p.type == pb.ModelProto.SentencePiece.NORMAL), default=0.0)
    added = 0
    for piece, own_score, kind in pieces:
        if piece in have:
            raise TokenizerError(f"{base_model}: piece {piece!r} is already in the model")
        if own_score is None:
            score -= 1.0
        new = pb.ModelProto.SentencePiece()
        new.piece, new.score, new.type = piece, score if own_score is None else own_score, kind
        model.pieces.append(new)
        have.add(piece)
        added += 1
    out_model.write_bytes(model.SerializeToString())
    return added
