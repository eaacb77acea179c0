"""`run_pack(PackConfig)`: documents -> uint16/uint32 train/val token shards + manifest.

The `lmforge data pack` verb and the recipe's `pack` stage are derived from `PackConfig`.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from pydantic import Field, ValidationInfo, model_validator

from lmforge.data.ops import SourcedInputs, made_later
from lmforge.tokens.pack import pack_texts, read_manifest
from lmforge.errors import UserError
from lmforge.tokenizer import Tokenizer


class PackConfig(SourcedInputs):
    out: str = Field(description="output folder: <source>/{train,val}-NNNNN.bin + manifest.json")
    tokenizer: str = Field(description="tokenizer folder")
    val_fraction: float = Field(0.01, gt=0, lt=1, description="share of documents (by hash) held out for validation")
    shard_tokens: int = Field(1 << 24, gt=0, description="tokens per shard file")
    workers: int = Field(default_factory=lambda: os.cpu_count() or 1, gt=0,
                         description="tokenizer batches in flight (default: all cores)")

    @model_validator(mode="after")
    def _tokenizer(self, info: ValidationInfo) -> "PackConfig":
        if not made_later(info) and not (Path(self.tokenizer) / "tokenizer.json").is_file():
            raise UserError(f"tokenizer: {self.tokenizer} is not a tokenizer folder (no tokenizer.json)")
        return self


def run_pack(cfg: PackConfig) -> dict[str, Any]:
    """Pack every source; returns the manifest's `sources` (files, tokens, documents per split)."""
    out = pack_texts(cfg.by_source(), Tokenizer.from_dir(cfg.tokenizer), cfg.out,
                     val_fraction=cfg.val_fraction, shard_tokens=cfg.shard_tokens, workers=cfg.workers)
    return read_manifest(out)["sources"]
