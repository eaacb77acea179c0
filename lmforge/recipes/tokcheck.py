"""The dry run's tokenizer checks: which tokenizer each stage's output uses, and where two disagree.

Token ids mean nothing under another tokenizer, so a recipe must pack, continue, grow and tune
with the tokenizer its model was trained with. `TokenizerTrack` follows each stage's tokenizer
through the recipe (a folder by its content hash, a tokenizer a stage will make by that stage's
name) and raises a ConfigError naming both sides where they differ: a base folder whose
tokenizer is not its own (vocabulary or special ids against config.json), data packed with
another tokenizer than the model's, an extension of another tokenizer than the model's.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, Callable

from pydantic import BaseModel

from lmforge.config import ConfigError
from lmforge.model.config import ModelConfig
from lmforge.model.io import load_config
from lmforge.model.source import ModelSource
from lmforge.tokenizer import Tokenizer
from lmforge.tokens.pack import MANIFEST, read_manifest, tokenizer_hash

# A model's embedding may have a few more rows than its tokenizer has entries (Qwen2.5-7B:
# 151,665 tokens in 152,064 rows, 0.26%); more than this share is another tokenizer.
PADDING_SHARE = 0.01


@dataclass(frozen=True)
class Tok:
    """A tokenizer as the dry run knows it."""

    label: str                   # what a message names: a folder, or the stage that makes it
    key: str                     # identity: "sha:<hash>" for an existing folder, "@stage" for one a stage makes
    vocab: int | None = None     # entries (for an extension: at most this many)
    extends: Tok | None = None   # an extension's base tokenizer

    def describe(self) -> str:
        size = "" if self.vocab is None else f" ({'at most ' if self.extends else ''}{self.vocab:,} tokens)"
        return f"{self.label}{size}"


@lru_cache(maxsize=16)
def _load(folder: str, stamp: int) -> Tokenizer:
    return Tokenizer.from_dir(folder)


def load_tokenizer(folder: str) -> Tokenizer:
    """Tokenizer.from_dir, read once per version of the file (a dry run asks several times)."""
    return _load(folder, (Path(folder) / "tokenizer.json").stat().st_mtime_ns)


def folder_tok(folder: str) -> Tok | None:
    """The tokenizer in a folder (None when it has no tokenizer.json)."""
    if not (Path(folder) / "tokenizer.json").is_file():
        return None
    tok = load_tokenizer(folder)
    return Tok(label=folder, key=f"sha:{tokenizer_hash(tok)}", vocab=tok.vocab_size)


def packed_tok(folder: str) -> Tok | None:
    """The tokenizer a packed folder's manifest names (None when it has none)."""
    if not (Path(folder) / MANIFEST).is_file():
        return None
    manifest = read_manifest(folder)
    if not manifest.get("tokenizer_hash"):
        return None
    return Tok(label=f"the tokenizer recorded in {folder}/{MANIFEST}", key=f"sha:{manifest['tokenizer_hash']}",
               vocab=manifest.get("vocab_size"))


def check_model_folder(folder: str, where: str) -> None:
    """A model folder's tokenizer must be its own: every id inside the embedding, the embedding
    padded by at most PADDING_SHARE, and the BOS/EOS ids config.json names."""
    cfg, tok = load_config(folder), load_tokenizer(folder)
    rows, n = cfg.vocab_size, tok.vocab_size
    tok_file, cfg_file = f"{folder}/tokenizer.json", f"{folder}/config.json"
    if n > rows or n < rows * (1 - PADDING_SHARE):
        raise ConfigError(f"{where}: {tok_file} has {n:,} tokens but {cfg_file} has vocab_size {rows:,}: "
                          "the folder holds another model's tokenizer (copy in the tokenizer the model was "
                          "trained with)")
    for name, ours, theirs in (("bos", tok.bos_id, cfg.bos_token_id), ("eos", tok.eos_id, cfg.eos_token_id)):
        if ours is not None and theirs is not None and ours != theirs:
            raise ConfigError(f"{where}: {tok_file} has {name} id {ours} but {cfg_file} has "
                              f"{name}_token_id {theirs}: the folder holds another model's tokenizer")


def check_fits(where: str, tok: Tok | None, cfg: ModelConfig) -> None:
    """A vocabulary larger than the embedding is refused (ids past the last row)."""
    if tok is None or tok.vocab is None or tok.extends is not None or tok.vocab <= cfg.vocab_size:
        return
    raise ConfigError(f"{where}: tokenizer {tok.describe()} is larger than the model's embedding "
                      f"({cfg.vocab_size:,} rows): grow the vocabulary first (a grow_vocab stage)")


class TokenizerTrack:
    """Which tokenizer each stage's output uses, checked stage by stage (see the module doc)."""

    def __init__(self) -> None:
        self.by_stage: dict[str, Tok] = {}
        self.notes: list[str] = []

    def ref(self, value: str | None) -> Tok | None:
        """The tokenizer of "@stage" or of a folder."""
        if not value:
            return None
        if value.startswith("@"):
            return self.by_stage.get(value[1:].split("/")[0])
        return folder_tok(value)

    def model_tok(self, source: Any) -> Tok | None:
        """The tokenizer of a model reference: "@stage", a folder, or a fresh preset's `tokenizer`."""
        if isinstance(source, ModelSource):
            return self.ref(source.path) if source.path else self.ref(source.tokenizer)
        return self.ref(source) if isinstance(source, str) else None

    def observe(self, name: str, kind: str, p: BaseModel) -> Tok | None:
        """Check one stage against the earlier ones; remember the tokenizer its output uses."""
        handlers: dict[str, Callable[[str, Any, str], Tok | None]] = {
            "tokenizer": self._trained, "tokenizer_folder": self._folder, "tokenizer_extend": self._extend,
            "pack": lambda n, q, w: self.ref(q.tokenizer), "model": self._model, "pretrain": self._pretrain,
            "grow_vocab": self._grow_vocab}
        if kind in handlers:
            tok = handlers[kind](name, p, f"stages.{name}")
        else:  # grow_dus, grow_upcycle, sft, dpo: the model's own tokenizer
            tok = self.model_tok(getattr(p, "model", None))
        if tok is not None:
            self.by_stage[name] = tok
        return tok

    def _trained(self, name: str, p: Any, where: str) -> Tok:
        return Tok(label=f"{where} (trained)", key=f"@{name}", vocab=getattr(p, "vocab_size", None))

    def _folder(self, name: str, p: Any, where: str) -> Tok:
        tok = folder_tok(p.path)
        if tok is None:
            self.notes.append(f"{where}.path: {p.path} has no tokenizer.json (yet): not checked")
            return Tok(label=p.path, key=f"@{name}")
        return tok

    def _model(self, name: str, p: ModelSource, where: str) -> Tok | None:
        if not p.path:
            return self.ref(p.tokenizer)
        if p.path.startswith("@"):
            return self.ref(p.path)
        if not (Path(p.path) / "config.json").is_file():
            self.notes.append(f"{where}.path: {p.path} not found: shapes from preset {p.preset}, "
                              "its tokenizer not checked")
            return Tok(label=p.path, key=f"@{name}")
        check_model_folder(p.path, where)
        return folder_tok(p.path)

    def _pretrain(self, name: str, p: Any, where: str) -> Tok | None:
        own, given = self.model_tok(p.model), self.ref(p.tokenizer)
        if given is not None and own is not None and p.model.path and given.key != own.key:
            raise ConfigError(f"{where}.tokenizer: {given.describe()} is not the tokenizer of model "
                              f"{p.model.path}, {own.describe()}: leave `tokenizer` out to use the model's")
        mine = given or own
        path = p.data.path
        data = self.ref(path) if path.startswith("@") else packed_tok(path)
        if mine is not None and data is not None and mine.key != data.key:
            packed = f"{path} (stages.{path[1:].split('/')[0]})" if path.startswith("@") else path
            raise ConfigError(f"{where}.data.path: {packed} is packed with {data.describe()}, but the model "
                              f"trains with {mine.describe()}: pack the data with the model's tokenizer")
        return mine

    def _extend(self, name: str, p: Any, where: str) -> Tok:
        base, add = self.ref(p.base), self.ref(p.add)
        size = base.vocab + add.vocab if base and add and base.vocab and add.vocab else None
        want = getattr(p, "vocab_size", None)
        if want and size and base and not base.vocab < want <= size:
            raise ConfigError(f"{where}.vocab_size: {want:,} cannot come out of extending {base.vocab:,} tokens "
                              f"with {add.vocab:,} more (between {base.vocab + 1:,} and {size:,})")
        size = want or size
        if base is None:
            base = Tok(label=p.base, key=f"@{name}.base")
        return Tok(label=f"{where} (extension of {base.label})", key=f"@{name}", vocab=size, extends=base)

    def _grow_vocab(self, name: str, p: Any, where: str) -> Tok | None:
        model, new = self.model_tok(p.model), self.ref(p.tokenizer)
        if model is None or new is None or new.extends is None:
            return new
        if new.extends.key != model.key:
            raise ConfigError(f"{where}.tokenizer: {p.tokenizer} extends {new.extends.describe()}, but model "
                              f"{p.model} uses {model.describe()}: extend the model's own tokenizer")
        want, base = getattr(p, "vocab_size", None), new.extends.vocab
        if want and new.vocab and base and not base < want <= new.vocab:
            raise ConfigError(f"{where}.vocab_size: {want:,} cannot come out of extending {base:,} tokens with "
                              f"{new.vocab - base:,} more (between {base + 1:,} and {new.vocab:,})")
        return new
