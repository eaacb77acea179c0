"""Grow a model's vocabulary to a (extended) tokenizer: new embedding rows are the mean of the
old ones (Hewitt 2021), so predictions on old text barely move; old rows stay untouched.
`run_grow_vocab(GrowVocabConfig)` is the operation behind `lmforge grow vocab` and the
`grow_vocab` stage."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import torch

from pydantic import ConfigDict, Field

from lmforge.errors import UserError
from lmforge.model.folder import ModelFolder
from lmforge.model.io import load_model, save_model
from lmforge.model.transformer import CausalLM
from lmforge.tokenizer import Tokenizer


class GrowVocabConfig(ModelFolder):
    """Resize `model`'s embeddings (and head) to `tokenizer`'s vocabulary, written to `out`."""

    model_config = ConfigDict(extra="forbid")
    out: str = Field(description="the grown model folder (with the new tokenizer)")
    tokenizer: str = Field(description="the (extended) tokenizer folder")
    init: Literal["mean", "normal"] = Field("mean", description="new rows: mean of the old rows, or random normal")
    vocab_size: int | None = Field(None, gt=0, description="expected new size: checked against the tokenizer")


def resize_vocab(model: CausalLM, new_size: int, init: Literal["mean", "normal"] = "mean",
                 seed: int = 0) -> CausalLM:
    """A copy of `model` with `new_size` embedding (and head) rows."""
    cfg = model.config
    old = cfg.vocab_size
    if new_size < old:
        raise UserError(f"new vocabulary ({new_size}) is smaller than the model's ({old})")
    grown = CausalLM(cfg.model_copy(update={"vocab_size": new_size}))
    sd = model.state_dict()
    gen = torch.Generator().manual_seed(seed)

    def grow(weight: torch.Tensor) -> torch.Tensor:
        extra = new_size - old
        if init == "mean":
            rows = weight.mean(0, keepdim=True).expand(extra, -1)
        else:
            rows = torch.randn(extra, weight.shape[1], generator=gen) * cfg.initializer_range
        return torch.cat([weight, rows.to(weight.dtype)], 0)

    sd["model.embed_tokens.weight"] = grow(sd["model.embed_tokens.weight"])
    if cfg.tie_word_embeddings:
        sd.pop("lm_head.weight", None)
    else:
        sd["lm_head.weight"] = grow(sd["lm_head.weight"])
    grown.load_state_dict(sd, strict=False)
    if cfg.tie_word_embeddings:
        grown.lm_head.weight = grown.model.embed_tokens.weight
    return grown


def grow_vocab(model_dir: str | Path, tokenizer_dir: str | Path, out: str | Path,
               init: Literal["mean", "normal"] = "mean") -> Path:
    model = load_model(model_dir)
    tok = Tokenizer.from_dir(tokenizer_dir)
    grown = resize_vocab(model, tok.vocab_size, init)
    return save_model(grown, out, created_by="lmforge grow vocab", parent=model_dir,
                      details={"tokenizer": str(tokenizer_dir), "old_vocab": model.config.vocab_size,
                               "new_vocab": tok.vocab_size, "init": init},
                      copy_from=tokenizer_dir)


def run_grow_vocab(cfg: GrowVocabConfig) -> Path:
    """`lmforge grow vocab`: the grown folder; refuses a tokenizer of another size than `vocab_size`."""
    if cfg.vocab_size is not None:
        size = Tokenizer.from_dir(cfg.tokenizer).vocab_size
        if size != cfg.vocab_size:
            raise UserError(f"vocab_size {cfg.vocab_size} but {cfg.tokenizer} has {size} tokens")
    return grow_vocab(cfg.model, cfg.tokenizer, cfg.out, cfg.init)
