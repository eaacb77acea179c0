"""`lmforge pretrain CONFIG.yaml [key=value ...]`: from scratch or from any model folder."""

from __future__ import annotations

import argparse
import os
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from lmforge.data.loader import DataConfig
from lmforge.train.config import TrainConfig


class ModelSpec(BaseModel):
    """`preset` (+ field overrides) for a new model, or `from` a model folder to continue."""

    model_config = ConfigDict(extra="allow", populate_by_name=True)
    preset: str | None = None
    from_: str | None = Field(None, alias="from")

    @model_validator(mode="after")
    def _one(self) -> "ModelSpec":
        if bool(self.preset) == bool(self.from_):
            raise ValueError("model: give either `preset` (new model) or `from` (a model folder)")
        if self.from_ and not Path(self.from_).is_dir():
            raise ValueError(f"model.from: folder {self.from_} not found")
        return self

    def overrides(self) -> dict[str, Any]:
        return dict(self.model_extra or {})


class GLMOptions(BaseModel):
    """GLM blank infilling (ChatGLM's objective): [MASK], [sop], [eop] take the 3 ids after the data's vocabulary."""

    model_config = ConfigDict(extra="forbid")
    mode: Literal["token", "sentence", "document"] = "token"
    mask_ratio: float = Field(0.15, gt=0, lt=1)
    poisson_lambda: float = Field(3.0, gt=0)


class PretrainConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")
    out: str
    model: ModelSpec
    data: DataConfig
    train: TrainConfig = Field(default_factory=TrainConfig)
    tokenizer: str | None = Field(None, description="tokenizer folder (default: the data's or model's)")
    objective: Literal["causal_lm", "glm"] = "causal_lm"
    glm: GLMOptions = Field(default_factory=GLMOptions)

    @model_validator(mode="after")
    def _files(self) -> "PretrainConfig":
        if not (Path(self.data.path) / "manifest.json").is_file():
            raise ValueError(f"data.path: {self.data.path} is not a packed data folder "
                             "(run `lmforge data pack`)")
        return self


def build_start_model(spec: ModelSpec, vocab_size: int, tok=None):
    """A fresh preset model (vocab from the tokenizer) or a loaded folder."""
    from lmforge.model import build_model, load_model, preset

    if spec.from_:
        return load_model(spec.from_)
    fields = {"vocab_size": vocab_size, **spec.overrides()}
    if tok is not None:
        fields.update(bos_token_id=tok.bos_id, eos_token_id=tok.eos_id, pad_token_id=tok.pad_id)
    return build_model(preset(spec.preset, **fields))


def run_pretrain(cfg: PretrainConfig, created_by: str = "lmforge pretrain"):
    from lmforge.config import dump_config
    from lmforge.data.loader import TokenLoader
    from lmforge.data.pack import read_manifest
    from lmforge.tokenizer import Tokenizer
    from lmforge.train.distributed import init_distributed
    from lmforge.train.objectives import causal_lm
    from lmforge.train.trainer import pick_device, train

    tok_dir = cfg.tokenizer or cfg.model.from_
    tok = Tokenizer.from_dir(tok_dir) if tok_dir and (Path(tok_dir) / "tokenizer.json").is_file() else None
    vocab = read_manifest(cfg.data.path)["vocab_size"]
    needed = vocab + (3 if cfg.objective == "glm" else 0)
    model = build_start_model(cfg.model, needed, tok)
    if model.config.vocab_size < needed:
        raise ValueError(f"model vocab_size {model.config.vocab_size} < {needed} (data vocab {vocab}"
                         f"{' + 3 GLM tokens' if cfg.objective == 'glm' else ''}); "
                         "grow the vocabulary first (lmforge grow vocab)")
    d = init_distributed(pick_device(cfg.train.device).type)
    loader = TokenLoader(cfg.data, cfg.train.seq_len, cfg.train.batch_size, cfg.train.seed,
                         d.rank, d.world_size)
    val = TokenLoader(cfg.data, cfg.train.seq_len, cfg.train.batch_size, split="val")
    objective, batches, val_batches = causal_lm, loader, lambda: val.eval_batches(cfg.train.eval_batches)
    if cfg.objective == "glm":
        objective, batches, val_batches = glm_setup(cfg, vocab, loader, val, tok)
    Path(cfg.out).mkdir(parents=True, exist_ok=True)
    if d.main:
        dump_config(cfg, Path(cfg.out) / "config.yaml")
    result = train(model, objective, batches, cfg.train, cfg.out, val_data=val_batches,
                   tokenizer_dir=tok_dir, parent=cfg.model.from_, created_by=created_by,
                   details={"data": cfg.data.model_dump(), "tokens_seen": loader.tokens_seen()})
    return result, loader.tokens_seen()


def glm_setup(cfg: PretrainConfig, vocab: int, loader, val, tok=None):
    """GLM objective, its training batches, and validation batches that are the same every eval.

    [MASK], [sop], [eop] are the ids just past the data's vocabulary; padding uses EOS (its
    targets are masked out); sentence mode cuts at tokens that are one sentence-final mark."""
    from lmforge.data.pack import read_manifest
    from lmforge.train.glm import GLMBatches, GLMTokens, glm_objective

    ids = GLMTokens(mask=vocab, sop=vocab + 1, eop=vocab + 2,
                    pad=int(read_manifest(cfg.data.path)["eos_id"]))
    ends = [e[0] for e in (tok.encode(m) for m in "。！？.!?") if len(e) == 1] if tok else []
    opts = {**cfg.glm.model_dump(), "sentence_end_ids": ends}
    batches = GLMBatches(loader, ids, cfg.train.seed, **opts)

    def val_batches():
        fixed = GLMBatches(None, ids, seed=12345, **opts)
        return (fixed.convert(b["input_ids"]) for b in val.eval_batches(cfg.train.eval_batches))
    return glm_objective, batches, val_batches


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("pretrain", help="pretrain or continue pretraining (torchrun for many GPUs)")
    p.add_argument("config", help="YAML with out, model, data, train sections")
    p.add_argument("overrides", nargs="*", metavar="KEY=VALUE", help="e.g. train.max_steps=100")
    when = p.add_mutually_exclusive_group()
    when.add_argument("--resume", action="store_true",
                      help="require a checkpoint in the run folder (resuming is automatic when one exists)")
    when.add_argument("--fresh", action="store_true", help="delete checkpoints in the run folder first")
    p.set_defaults(func=cmd_pretrain)


def cmd_pretrain(args: argparse.Namespace) -> None:
    import shutil

    from lmforge.config import load_config

    from lmforge.train.checkpoint import checkpoints

    cfg = load_config(PretrainConfig, args.config, args.overrides)
    if args.resume and not checkpoints(Path(cfg.out)):
        raise FileNotFoundError(f"--resume: no complete checkpoint under {cfg.out}/checkpoints")
    if args.fresh:
        shutil.rmtree(Path(cfg.out) / "checkpoints", ignore_errors=True)
    result, seen = run_pretrain(cfg)
    if os.environ.get("RANK", "0") != "0":
        return
    state = "interrupted (checkpoint saved; rerun to resume)" if result.interrupted else "done"
    print(f"{state}: step {result.step}, {result.tokens:,} tokens, loss {result.loss}, "
          f"val_loss {result.val_loss}, tokens by source {seen}; model: {result.model_dir}")
