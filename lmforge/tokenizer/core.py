"""The Tokenizer every stage uses: a `tokenizers.Tokenizer` plus tokenizer_config.json."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Sequence

from tokenizers import Tokenizer as HFTokenizer
from tokenizers import decoders, models, pre_tokenizers

from lmforge.errors import UserError
from lmforge.files import read_json

SPECIAL_TOKENS = {"pad": "<pad>", "bos": "<s>", "eos": "</s>", "unk": "<unk>"}


class TokenizerError(UserError):
    pass


class Tokenizer:
    """Encode/decode text and know the special ids; saved as HF files so transformers loads it."""

    def __init__(self, tok: HFTokenizer, config: dict[str, Any] | None = None):
        self.tok = tok
        self.config = dict(config or {})

    # ---- special tokens ------------------------------------------------------------------
    def token_id(self, token: str | None) -> int | None:
        return None if token is None else self.tok.token_to_id(token)

    def _special(self, key: str) -> int | None:
        value = self.config.get(f"{key}_token")
        if isinstance(value, dict):
            value = value.get("content")
        return self.token_id(value)

    @property
    def bos_id(self) -> int | None:
        return self._special("bos")

    @property
    def eos_id(self) -> int | None:
        return self._special("eos")

    @property
    def pad_id(self) -> int:
        pad = self._special("pad")
        return pad if pad is not None else (self.eos_id or 0)

    @property
    def vocab_size(self) -> int:
        return self.tok.get_vocab_size(with_added_tokens=True)

    @property
    def chat_template(self) -> str | None:
        return self.config.get("chat_template")

    # ---- text <-> ids --------------------------------------------------------------------
    def encode(self, text: str, add_bos: bool = False) -> list[int]:
        ids = self.tok.encode(text, add_special_tokens=False).ids
        return [self.bos_id] + ids if add_bos and self.bos_id is not None else ids

    def encode_batch(self, texts: Sequence[str]) -> list[list[int]]:
        return [e.ids for e in self.tok.encode_batch(list(texts), add_special_tokens=False)]

    def decode(self, ids: Sequence[int], skip_special_tokens: bool = True) -> str:
        return self.tok.decode(list(ids), skip_special_tokens=skip_special_tokens)

    # ---- files ---------------------------------------------------------------------------
    @classmethod
    def from_dir(cls, folder: str | Path) -> "Tokenizer":
        folder = Path(folder)
        path = folder / "tokenizer.json"
        if not path.is_file():
            raise TokenizerError(f"{path}: file not found (a model folder needs a tokenizer; "
                                 "train one with `lmforge tokenizer train`)")
        try:
            tok = HFTokenizer.from_file(str(path))
        except Exception as e:  # tokenizers raises a bare Exception on bad JSON
            raise TokenizerError(f"{path}: cannot be read as a tokenizers file ({e})") from None
        return cls(tok, read_config(folder))

    def files(self) -> dict[str, str]:
        """File name -> text, for `save_model(extra_files=...)` or `save`."""
        return {"tokenizer.json": self.tok.to_str(pretty=True),
                "tokenizer_config.json": json.dumps(self.config, indent=2, ensure_ascii=False)}

    def save(self, folder: str | Path) -> None:
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        for name, text in self.files().items():
            (folder / name).write_text(text, encoding="utf-8")


def read_config(folder: Path) -> dict[str, Any]:
    """tokenizer_config.json, with the chat template of chat_template.jinja (transformers 5 keeps it there)."""
    cfg_path = folder / "tokenizer_config.json"
    config = read_json(cfg_path, "tokenizer config") if cfg_path.is_file() else {}
    template = folder / "chat_template.jinja"
    if "chat_template" not in config and template.is_file():
        config["chat_template"] = template.read_text(encoding="utf-8")
    return config


def byte_tokenizer() -> Tokenizer:
    """A vocabulary of the 256 bytes plus specials: works before any tokenizer is trained."""
    specials = list(SPECIAL_TOKENS.values())
    alphabet = pre_tokenizers.ByteLevel.alphabet()
    vocab = {tok: i for i, tok in enumerate(specials)}
    for ch in sorted(alphabet):
        vocab[ch] = len(vocab)
    tok = HFTokenizer(models.BPE(vocab=vocab, merges=[]))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)
    tok.decoder = decoders.ByteLevel()
    tok.add_special_tokens(specials)
    config = {"tokenizer_class": "PreTrainedTokenizerFast", "model_max_length": 1_000_000,
              **{f"{k}_token": v for k, v in SPECIAL_TOKENS.items()}}
    return Tokenizer(tok, config)
