"""`lmforge run RECIPE --dry-run`: each stage's model size and compute, without running it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from lmforge.model.config import ModelConfig, preset
from lmforge.model.flops import flops_per_token, human, param_count
from lmforge.model.io import load_config

# Stage kinds that change a model's shape, and how.
def _grown(cfg: ModelConfig, spec: dict[str, Any]) -> ModelConfig:
    n = cfg.num_hidden_layers
    if "target_layers" in spec:
        layers = int(spec["target_layers"])
    else:
        layers = 2 * (n - int(spec.get("drop", 0)))
    return cfg.model_copy(update={"num_hidden_layers": layers})


def _model_of(spec: dict[str, Any], known: dict[str, ModelConfig]) -> ModelConfig | None:
    if spec["kind"] == "model":
        if spec.get("path") and (Path(spec["path"]) / "config.json").is_file():
            return load_config(spec["path"])
        fields = {k: v for k, v in spec.items() if k not in ("kind", "path", "preset", "tokenizer")}
        return preset(spec["preset"], **fields) if spec.get("preset") else None
    model = spec.get("model")
    if isinstance(model, dict) and "preset" in model:
        return preset(model["preset"], **{k: v for k, v in model.items() if k != "preset"})
    if isinstance(model, str) and model.startswith("@"):
        return known.get(model[1:].split("/")[0])
    return None


def _tokens(spec: dict[str, Any]) -> int | None:
    train = spec.get("train") or {}
    if train.get("max_tokens"):
        return int(train["max_tokens"])
    if train.get("max_steps") and train.get("global_batch_tokens"):
        return int(train["max_steps"]) * int(train["global_batch_tokens"])
    if train.get("max_steps") and train.get("batch_size") and train.get("seq_len"):
        return int(train["max_steps"]) * int(train["batch_size"]) * int(train["seq_len"]) \
            * int(train.get("grad_accum", 1))
    return spec.get("tokens")


def plan(recipe) -> list[dict[str, Any]]:
    known: dict[str, ModelConfig] = {}
    rows = []
    for name, spec in recipe.stages.items():
        cfg = _model_of(spec, known)
        if cfg is not None and spec["kind"] == "grow_dus":
            cfg = _grown(cfg, spec)
        if cfg is not None and spec["kind"] == "grow_upcycle":
            cfg = cfg.model_copy(update={"num_local_experts": int(spec.get("experts", 8)),
                                         "num_experts_per_tok": int(spec.get("top_k", 2))})
        if cfg is not None and spec["kind"] == "grow_vocab" and spec.get("vocab_size"):
            cfg = cfg.model_copy(update={"vocab_size": int(spec["vocab_size"])})
        if cfg is not None:
            known[name] = cfg
        row: dict[str, Any] = {"stage": name, "kind": spec["kind"]}
        if cfg is not None:
            seq = (spec.get("train") or {}).get("seq_len") or cfg.max_position_embeddings
            row.update(layers=cfg.num_hidden_layers, params=param_count(cfg),
                       active_params=param_count(cfg, active=True), flops_per_token=flops_per_token(cfg, seq))
            tokens = _tokens(spec)
            if tokens:
                row.update(tokens=tokens, train_flops=row["flops_per_token"] * tokens)
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
            line += f" {human(r['flops_per_token']):>8s} FLOPs/token"
        if "tokens" in r:
            line += f" x {human(r['tokens'])} tokens = {r['train_flops']:.3g} FLOPs"
        print(line)
