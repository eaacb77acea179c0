"""`lmforge run RECIPE --dry-run`: each stage's model size and compute, without running it.

Every stage's parameters are the operation's typed config (validated when the recipe loads), so
the plan reads typed fields; shapes follow the stages that change them (DUS depth, MoE experts,
a grown vocabulary), and a fresh model's vocabulary is its tokenizer's when that is known.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import BaseModel

from lmforge.grow.dus import dus_layers
from lmforge.model.config import ModelConfig
from lmforge.model.flops import flops_per_token, human, param_count
from lmforge.model.io import load_config
from lmforge.model.memory import TrainShape, estimate_training_memory
from lmforge.model.source import ModelSource
from lmforge.recipes.kinds import check_params
from lmforge.tokenizer import Tokenizer
from lmforge.train.config import TrainConfig


class Known:
    """What earlier stages will produce: model shapes and tokenizer vocabularies by stage name."""

    def __init__(self) -> None:
        self.models: dict[str, ModelConfig] = {}
        self.vocabs: dict[str, int] = {}

    def vocab(self, tokenizer: str | None) -> int | None:
        if not tokenizer:
            return None
        if tokenizer.startswith("@"):
            return self.vocabs.get(tokenizer[1:].split("/")[0])
        if (Path(tokenizer) / "tokenizer.json").is_file():
            return Tokenizer.from_dir(tokenizer).vocab_size
        return None

    def model(self, source: Any, tokenizer: str | None = None) -> ModelConfig | None:
        """The shape of a model reference: "@stage", a folder, or a fresh preset."""
        if isinstance(source, str):
            if source.startswith("@"):
                return self.models.get(source[1:].split("/")[0])
            return load_config(source) if (Path(source) / "config.json").is_file() else None
        if not isinstance(source, ModelSource):
            return None
        if source.path and (source.path.startswith("@") or (Path(source.path) / "config.json").is_file()):
            return self.model(source.path)
        if not source.preset:
            return None
        vocab = self.vocab(source.tokenizer or tokenizer)
        return source.model_copy(update={"tokenizer": None}).fresh_config(vocab_size=vocab)


def _grown(kind: str, p: BaseModel, cfg: ModelConfig, known: Known) -> ModelConfig:
    """The shape after a stage that changes it."""
    if kind == "grow_dus":
        _, layers = dus_layers(cfg.num_hidden_layers, getattr(p, "drop", None), getattr(p, "target_layers", None))
        return cfg.model_copy(update={"num_hidden_layers": layers})
    if kind == "grow_upcycle":
        return cfg.model_copy(update={"num_local_experts": p.experts, "num_experts_per_tok": p.top_k})
    if kind == "grow_vocab":
        size = getattr(p, "vocab_size", None) or known.vocab(getattr(p, "tokenizer", None))
        return cfg.model_copy(update={"vocab_size": size}) if size else cfg
    return cfg


def _tokens(train: TrainConfig | None) -> int | None:
    if train is None:
        return None
    if train.global_batch_tokens:
        return train.max_steps * train.global_batch_tokens
    return train.max_steps * train.batch_size * train.seq_len * train.grad_accum


def _memory_gib(cfg: ModelConfig, train: TrainConfig) -> float:
    """Per-GPU peak of one training step on one GPU (bf16 unless fp32 is set), see model/memory.py."""
    shape = TrainShape(seq_len=train.seq_len, batch_size=train.batch_size,
                       precision="fp32" if train.precision == "fp32" else "bf16",
                       activation_checkpointing=train.activation_checkpointing,
                       loss_impl="full" if train.loss_impl == "full" else "chunked")
    return estimate_training_memory(cfg, shape).peak / 2**30


def _stage_shape(kind: str, p: BaseModel, known: Known) -> ModelConfig | None:
    if kind == "model":
        return known.model(p)
    cfg = known.model(getattr(p, "model", None), getattr(p, "tokenizer", None))
    return _grown(kind, p, cfg, known) if cfg is not None else None


def plan(recipe) -> list[dict[str, Any]]:
    known = Known()
    rows = []
    for name, spec in recipe.stages.items():
        p = check_params(spec["kind"], {k: v for k, v in spec.items() if k != "kind"},
                         f"stages.{name}", when_loading=True)
        if spec["kind"] == "tokenizer" and getattr(p, "vocab_size", None):
            known.vocabs[name] = p.vocab_size
        cfg = _stage_shape(spec["kind"], p, known)
        row: dict[str, Any] = {"stage": name, "kind": spec["kind"]}
        if cfg is not None:
            known.models[name] = cfg
            train = getattr(p, "train", None)
            seq = train.seq_len if isinstance(train, TrainConfig) else cfg.max_position_embeddings
            row.update(layers=cfg.num_hidden_layers, params=param_count(cfg), vocab_size=cfg.vocab_size,
                       active_params=param_count(cfg, active=True), flops_per_token=flops_per_token(cfg, seq))
            tokens = _tokens(train if isinstance(train, TrainConfig) else None)
            if tokens:
                row.update(tokens=tokens, train_flops=row["flops_per_token"] * tokens,
                           memory_gib_per_gpu=_memory_gib(cfg, train))
        rows.append(row)
    return rows


def print_plan(recipe) -> None:
    print(f"recipe {recipe.name} (scale {recipe.scale}) -> {recipe.out}")
    for r in plan(recipe):
        line = f"  {r['stage']:18s} {r['kind']:16s}"
        if "params" in r:
            line += f" {r['layers']:3d} layers {human(r['params']):>9s} params"
            if r["active_params"] != r["params"]:
                line += f" ({human(r['active_params'])} active)"
            line += f" vocab {r['vocab_size']:,} {human(r['flops_per_token']):>8s} FLOPs/token"
        if "tokens" in r:
            line += (f" x {human(r['tokens'])} tokens = {r['train_flops']:.3g} FLOPs,"
                     f" peak {r['memory_gib_per_gpu']:.1f} GiB on one GPU")
        print(line)
