"""Tokenizer operations as typed configs and run functions: `run_train_tokenizer` and
`run_tokenizer_stats`. The `lmforge tokenizer train|stats` verbs and the recipe's `tokenizer`
stage are derived from these configs (`tokenizer extend` lives in tokenizer/extend.py)."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import Field, ValidationInfo, model_validator

from lmforge.data.ops import Inputs, TextInputs, made_later
from lmforge.errors import UserError
from lmforge.tokenizer.core import Tokenizer
from lmforge.tokenizer.stats import tokenizer_stats
from lmforge.tokenizer.train import TokenizerType, train_tokenizer


def check_tokenizer_dir(folder: str | None, key: str) -> None:
    """A UserError naming `key` when `folder` is given but holds no tokenizer.json."""
    if folder is not None and not (Path(folder) / "tokenizer.json").is_file():
        raise UserError(f"{key}: {folder} is not a tokenizer folder (no tokenizer.json)")


class TrainTokenizerConfig(Inputs):
    out: str = Field(description="output folder: tokenizer.json, tokenizer_config.json (+ tokenizer.model)")
    vocab_size: int = Field(4096, gt=0, description="vocabulary size, special tokens included")
    type: TokenizerType = Field("bytelevel-bpe", description="tokenizer model and pre-tokenizer")
    chat_template: Literal["chatml", "solar"] = Field("chatml", description="chat template stored with it")
    sample_chars: int | None = Field(None, gt=0, description="train on at most this many characters")


def run_train_tokenizer(cfg: TrainTokenizerConfig) -> Tokenizer:
    """`lmforge tokenizer train`: the trained tokenizer, saved to `out` (made only when it succeeded)."""
    return train_tokenizer(cfg.documents(), cfg.vocab_size, cfg.out, cfg.type, cfg.chat_template,
                           cfg.sample_chars, source=", ".join(cfg.input))


class TokenizerStatsConfig(TextInputs):
    tokenizer: str = Field(description="tokenizer folder to measure")
    compare: str | None = Field(None, description="another tokenizer folder for vocabulary overlap and ratios")
    max_chars: int = Field(2_000_000, gt=0, description="measure on at most this many characters")

    @model_validator(mode="after")
    def _tokenizers(self, info: ValidationInfo) -> "TokenizerStatsConfig":
        if not made_later(info):
            check_tokenizer_dir(self.tokenizer, "tokenizer")
            check_tokenizer_dir(self.compare, "compare")
        return self


def run_tokenizer_stats(cfg: TokenizerStatsConfig) -> dict[str, Any]:
    """`lmforge tokenizer stats`: chars/token per language, byte fallback, round trip, overlap."""
    return tokenizer_stats(cfg.tokenizer, cfg.input, cfg.field, cfg.compare, cfg.max_chars)


