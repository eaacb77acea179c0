"""Vocabulary extension (Chinese-LLaMA): append a second tokenizer's pieces to a base one.

Every base id and piece stays as it was; new pieces get the next ids. Pieces made only of ASCII
are not added, so English text tokenizes exactly as before.
"""

from __future__ import annotations

import json
import tempfile
from functools import lru_cache
from pathlib import Path
from typing import Any

from pydantic import Field, ValidationInfo, model_validator
from tokenizers import Tokenizer as HFTokenizer
from tokenizers.pre_tokenizers import ByteLevel

from lmforge.data.ops import InputPaths, TextField, made_later
from lmforge.data.read import read_documents
from lmforge.errors import UserError
from lmforge.tokenizer.core import Tokenizer, TokenizerError
from lmforge.tokenizer.spm import MODEL_FILE, from_sentencepiece
from lmforge.tokenizer.train import train_tokenizer

def _byte_level_text(token: str) -> bytes | None:
    try:
        return bytes(_byte_table()[c] for c in token)
    except KeyError:
        return None


@lru_cache(maxsize=1)
def _byte_table() -> dict[str, int]:
    return {ch: i for i, ch in enumerate(_bytes_to_unicode())}


def _bytes_to_unicode() -> list[str]:
    """The GPT-2 byte -> printable character table (byte b is entry b)."""
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
    return [chars[b] for b in range(256)]


def _is_ascii_piece(piece: str, byte_level: bool) -> bool:
    if byte_level:
        raw = _byte_level_text(piece)
        return raw is not None and all(b < 128 for b in raw)
    return all(ord(c) < 128 or c == "▁" for c in piece)


def _kind(folder: Path) -> str:
    if (folder / MODEL_FILE).is_file():
        return "sentencepiece"
    if not (folder / "tokenizer.json").is_file():
        raise TokenizerError(f"{folder}: no tokenizer.json or {MODEL_FILE} (not a tokenizer folder)")
    data = json.loads((folder / "tokenizer.json").read_text(encoding="utf-8"))
    model = data["model"]["type"]
    if model == "BPE" and "ByteLevel" in json.dumps(data.get("pre_tokenizer")):
        return "bytelevel-bpe"
    raise TokenizerError(f"{folder}: extension supports SentencePiece and byte-level BPE, not {model}")


class ExtendConfig(TextField):
    """Append the pieces of `add` (or of a tokenizer trained on `train_on`) to `base`."""

    out: str = Field(description="output folder: the extended tokenizer")
    base: str = Field(description="base tokenizer folder (SentencePiece or byte-level BPE, e.g. LLaMA's)")
    add: str | None = Field(None, description="tokenizer folder (or SentencePiece .model) whose pieces to add")
    train_on: InputPaths = Field(default_factory=list, description="... or train the added tokenizer on these files")
    add_size: int = Field(8000, gt=0, description="vocabulary of the trained addition")

    @model_validator(mode="after")
    def _which(self, info: ValidationInfo) -> "ExtendConfig":
        if (self.add is None) == (not self.train_on):
            raise UserError("give either `add` (a tokenizer) or `train_on` (files to train one on), not both")
        if not made_later(info):
            for key, folder in (("base", self.base), ("add", self.add)):
                if folder is not None and not Path(folder).exists():
                    raise UserError(f"{key}: {folder} not found")
        return self


def run_extend(cfg: ExtendConfig) -> dict[str, Any]:
    """`lmforge tokenizer extend`: {base_vocab, added, vocab, out}."""
    return extend_tokenizer(cfg.base, cfg.add, cfg.out, cfg.train_on or None, cfg.add_size, cfg.field)


def extend_tokenizer(base: str | Path, add: str | Path | None, out: str | Path,
                     train_on: list[str] | None = None, add_size: int = 8000,
                     text_field: str = "text") -> dict[str, Any]:
    """Append the pieces of `add` (or of a tokenizer trained on `train_on`) to `base`, into `out`."""
    base = Path(base)
    base_kind = _kind(base)
    if add is not None:
        return _extend(base, base_kind, Path(add), Path(out))
    if not train_on:
        raise TokenizerError("give --add TOKENIZER or --train-on FILES")
    tok_type = "sentencepiece-bpe" if base_kind == "sentencepiece" else "bytelevel-bpe"
    with tempfile.TemporaryDirectory(prefix="lmforge-added-") as tmp:
        train_tokenizer(read_documents(train_on, text_field=text_field), add_size, tmp, tok_type)
        return _extend(base, base_kind, Path(tmp), Path(out))


def _extend(base: Path, base_kind: str, add: Path, out: Path) -> dict[str, Any]:
    add_kind = "sentencepiece" if str(add).endswith(".model") else _kind(add)
    if add_kind != base_kind:
        raise TokenizerError(f"cannot add a {add_kind} tokenizer ({add}) to a {base_kind} base ({base})")
    base_tok = Tokenizer.from_dir(base)
    out.mkdir(parents=True, exist_ok=True)
    if base_kind == "sentencepiece":
        added = _extend_sentencepiece(base / MODEL_FILE, add if add.suffix == ".model" else add / MODEL_FILE,
                                      out / MODEL_FILE)
        hf = from_sentencepiece(out / MODEL_FILE)
        for t in base_tok.tok.get_added_tokens_decoder().values():
            if hf.token_to_id(t.content) is None:
                hf.add_special_tokens([t.content])
    else:
        hf, added = _extend_bytelevel(base / "tokenizer.json", add / "tokenizer.json")
    new = Tokenizer(hf, base_tok.config)
    new.save(out)
    old_vocab = base_tok.tok.get_vocab(with_added_tokens=True)
    new_vocab = new.tok.get_vocab(with_added_tokens=True)
    changed = [p for p, i in old_vocab.items() if new_vocab.get(p) != i]
    if changed:
        raise TokenizerError(f"internal error: base ids changed for {changed[:5]}")
    return {"base_vocab": len(old_vocab), "added": added, "vocab": len(new_vocab), "out": str(out)}


def _extend_sentencepiece(base_model: Path, add_model: Path, out_model: Path) -> int:
    from sentencepiece import sentencepiece_model_pb2 as pb

    base, extra = pb.ModelProto(), pb.ModelProto()
    base.ParseFromString(base_model.read_bytes())
    extra.ParseFromString(add_model.read_bytes())
    have = {p.piece for p in base.pieces}
    added = 0
    for p in extra.pieces:
        if p.type != pb.ModelProto.SentencePiece.NORMAL or p.piece in have or _is_ascii_piece(p.piece, False):
            continue
        new = pb.ModelProto.SentencePiece()
        new.piece, new.score = p.piece, 0.0
        base.pieces.append(new)
        have.add(p.piece)
        added += 1
    out_model.write_bytes(base.SerializeToString())
    return added


def _extend_bytelevel(base_json: Path, add_json: Path) -> tuple[HFTokenizer, int]:
    base = json.loads(base_json.read_text(encoding="utf-8"))
    extra = json.loads(add_json.read_text(encoding="utf-8"))
    vocab: dict[str, int] = base["model"]["vocab"]
    next_id = max(list(vocab.values()) + [t["id"] for t in base.get("added_tokens", [])]) + 1
    special = {t["content"] for t in extra.get("added_tokens", [])}
    added = 0
    for piece, _ in sorted(extra["model"]["vocab"].items(), key=lambda kv: kv[1]):
        if piece in vocab or piece in special or _is_ascii_piece(piece, True):
            continue
        vocab[piece] = next_id
        next_id += 1
        added += 1
    merges = base["model"]["merges"]
    as_pair = lambda m: tuple(m.split(" ", 1)) if isinstance(m, str) else tuple(m)  # noqa: E731
    have = {as_pair(m) for m in merges}
    for m in extra["model"]["merges"]:
        a, b = as_pair(m)
        if (a, b) not in have and a + b in vocab and a in vocab and b in vocab \
                and not _is_ascii_piece(a + b, True):
            merges.append([a, b])
            have.add((a, b))
    base["model"]["merges"] = [list(as_pair(m)) for m in merges]
    return HFTokenizer.from_str(json.dumps(base, ensure_ascii=False)), added
