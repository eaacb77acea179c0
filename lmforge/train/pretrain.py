"""Pretraining, from scratch or continued from any model folder: `run_pretrain(PretrainConfig)`.

The CLI verb `lmforge pretrain` and the recipe stage `pretrain` are both derived from
`PretrainConfig`; this module holds the operation itself.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, model_validator

from lmforge.config import dump_config
from lmforge.tokens.loader import DataConfig, TokenLoader
from lmforge.tokens.pack import read_manifest
from lmforge.errors import UserError
from lmforge.model.config import ModelConfig
from lmforge.model.source import ModelSource
from lmforge.tokenizer import Tokenizer
from lmforge.train.boundary import (check_context, check_data_tokenizer, check_model_tokenizer, memory_gib,
                                    tokenizer_identity)
from lmforge.train.checkpoint import checkpoints
from lmforge.train.config import TrainConfig
from lmforge.train.distributed import init_distributed
from lmforge.train.glm import GLMBatches, GLMTokens, glm_objective
from lmforge.train.objectives import causal_lm
from lmforge.train.trainer import TrainResult, pick_device, train


class GLMOptions(BaseModel):
    """GLM blank infilling (ChatGLM's objective): [MASK], [sop], [eop] take the 3 ids after the data's vocabulary."""

    model_config = ConfigDict(extra="forbid")
    mode: Literal["token", "sentence", "document"] = Field("token", description="what a blank covers")
    mask_ratio: float = Field(0.15, gt=0, lt=1, description="share of tokens blanked")
    poisson_lambda: float = Field(3.0, gt=0, description="mean span length (token mode)")


class PretrainConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")
    out: str = Field(description="run folder: model/, checkpoints/, metrics.jsonl")
    model: ModelSource = Field(description="a folder to continue, or {preset: NAME, ...} for a new model")
    data: DataConfig = Field(description="packed data (lmforge data pack) and its mixture")
    train: TrainConfig = Field(default_factory=TrainConfig)
    tokenizer: str | None = Field(None, description="tokenizer folder (default: the model's)")
    objective: Literal["causal_lm", "glm"] = Field("causal_lm", description="next-token or GLM blank infilling")
    glm: GLMOptions = Field(default_factory=GLMOptions)
    dry_run: bool = Field(False, description="run every check (paths, tokenizers, seq_len against the "
                          "context, tokens per source and validation split, memory per GPU) and stop "
                          "before training")

    @model_validator(mode="after")
    def _files(self, info: ValidationInfo) -> "PretrainConfig":
        if (info.context or {}).get("files_made_later"):  # a recipe's earlier stage writes them
            return self
        if not (Path(self.data.path) / "manifest.json").is_file():
            raise ValueError(f"data.path: {self.data.path} is not a packed data folder "
                             "(run `lmforge data pack`)")
        return self

    def tokenizer_dir(self) -> str | None:
        return self.tokenizer or self.model.tokenizer_dir()


def prepare_run_dir(out: str | Path, resume: Literal["auto", "require", "fresh"]) -> None:
    """`require`: a checkpoint must be there; `fresh`: delete old checkpoints first."""
    if resume == "require" and not checkpoints(Path(out)):
        raise UserError(f"--resume: no complete checkpoint under {out}/checkpoints")
    if resume == "fresh":
        shutil.rmtree(Path(out) / "checkpoints", ignore_errors=True)


def model_shape(cfg: PretrainConfig, vocab: int, tok: Tokenizer | None) -> ModelConfig:
    """The shape of the model to train (a folder's config, or the fresh preset's), with room
    for the data's vocabulary (+3 GLM tokens)."""
    needed = vocab + (3 if cfg.objective == "glm" else 0)
    shape = cfg.model.config() if cfg.model.path else cfg.model.fresh_config(needed, tok)
    if shape.vocab_size < needed:
        raise UserError(f"model vocab_size {shape.vocab_size} < {needed} (data vocab {vocab}"
                        f"{' + 3 GLM tokens' if cfg.objective == 'glm' else ''}); "
                        "grow the vocabulary first (lmforge grow vocab)")
    return shape


@dataclass
class PretrainPlan:
    """What the checks found: the tokenizer, the model's shape, the loaders and, per source,
    the packed tokens; `memory_gib` is the per-GPU peak of one step."""

    tokenizer: Tokenizer | None
    vocab: int
    shape: ModelConfig
    loader: TokenLoader
    val: TokenLoader
    tokens: dict[str, dict[str, int]]
    memory_gib: float

    def summary(self) -> str:
        sources = ", ".join(f"{s} {t['train']:,} train + {t['val']:,} val" for s, t in self.tokens.items())
        tok = f"{self.tokenizer.vocab_size:,} tokens" if self.tokenizer else "none"
        return (f"checked: model {self.shape.num_hidden_layers} layers, vocab {self.shape.vocab_size:,}, "
                f"context {self.shape.max_position_embeddings}; tokenizer {tok}; data vocab {self.vocab:,}, "
                f"tokens {sources}; peak {self.memory_gib:.1f} GiB on one GPU")


def check_pretrain(cfg: PretrainConfig) -> PretrainPlan:
    """Every check before a step (all that `--dry-run` runs): the data's tokenizer, the model's
    tokenizer and vocabulary, seq_len against the context, enough tokens in every source and its
    validation split, shard ids inside the vocabulary."""
    tok = _tokenizer(cfg)
    manifest = read_manifest(cfg.data.path)
    check_data_tokenizer(cfg.data.path, manifest, tok, cfg.tokenizer_dir())
    vocab = manifest["vocab_size"]
    shape = model_shape(cfg, vocab, tok)
    where = cfg.model.path or f"preset {cfg.model.preset}"
    if cfg.model.path and tok is not None:
        check_model_tokenizer(cfg.model.path, shape, tok, cfg.tokenizer_dir())
    check_context("train.seq_len", cfg.train.seq_len, shape, where)
    loader = TokenLoader(cfg.data, cfg.train.seq_len, cfg.train.batch_size, cfg.train.seed)
    val = TokenLoader(cfg.data, cfg.train.seq_len, cfg.train.batch_size, split="val")
    tokens = {s: {"train": len(loader.tokens[s]), "val": len(val.tokens[s])} for s in loader.sources}
    return PretrainPlan(tok, vocab, shape, loader, val, tokens, memory_gib(shape, cfg.train))


def _tokenizer(cfg: PretrainConfig) -> Tokenizer | None:
    folder = cfg.tokenizer_dir()
    return Tokenizer.from_dir(folder) if folder and (Path(folder) / "tokenizer.json").is_file() else None


def run_pretrain(cfg: PretrainConfig, created_by: str = "lmforge pretrain"
                 ) -> tuple[TrainResult, dict] | PretrainPlan:
    """Train; returns the trainer's result and the tokens seen per source (with dry_run: the
    checks' plan, nothing trained)."""
    plan = check_pretrain(cfg)
    if cfg.dry_run:
        return plan
    tok, vocab = plan.tokenizer, plan.vocab
    model = cfg.model.build(plan.shape.vocab_size, tok)
    d = init_distributed(pick_device(cfg.train.device).type)
    loader = plan.loader if d.world_size == 1 else TokenLoader(
        cfg.data, cfg.train.seq_len, cfg.train.batch_size, cfg.train.seed, d.rank, d.world_size)
    val = plan.val
    objective, batches, val_batches = causal_lm, loader, lambda: val.eval_batches(cfg.train.eval_batches)
    if cfg.objective == "glm":
        objective, batches, val_batches = glm_setup(cfg, vocab, loader, val, tok)
    Path(cfg.out).mkdir(parents=True, exist_ok=True)
    if d.main:
        dump_config(cfg, Path(cfg.out) / "config.yaml")
    details = {"data": cfg.data.model_dump(), "tokens_seen": loader.tokens_seen()}
    if tok is not None:
        details["tokenizer"] = tokenizer_identity(tok, cfg.tokenizer_dir())
    result = train(model, objective, batches, cfg.train, cfg.out, val_data=val_batches,
                   tokenizer_dir=cfg.tokenizer_dir(), parent=cfg.model.path, created_by=created_by,
                   details=details)
    return result, loader.tokens_seen()


def glm_setup(cfg: PretrainConfig, vocab: int, loader, val, tok=None):
    """GLM objective, its training batches, and validation batches that are the same every eval.

    [MASK], [sop], [eop] are the ids just past the data's vocabulary; padding uses EOS (its
    targets are masked out); sentence mode cuts at tokens that are one sentence-final mark."""
    ids = GLMTokens(mask=vocab, sop=vocab + 1, eop=vocab + 2,
                    pad=int(read_manifest(cfg.data.path)["eos_id"]))
    ends = [e[0] for e in (tok.encode(m) for m in "。！？.!?") if len(e) == 1] if tok else []
    opts = {**cfg.glm.model_dump(), "sentence_end_ids": ends}
    batches = GLMBatches(loader, ids, cfg.train.seed, **opts)

    def val_batches():
        fixed = GLMBatches(None, ids, seed=12345, **opts)
        return (fixed.convert(b["input_ids"]) for b in val.eval_batches(cfg.train.eval_batches))
    return glm_objective, batches, val_batches
