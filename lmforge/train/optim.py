"""AdamW with parameter groups and learning-rate schedules."""

from __future__ import annotations

import fnmatch
import math

import torch
from torch import nn

from lmforge.errors import UserError
from lmforge.train.config import TrainConfig


def _matches(name: str, patterns: list[str]) -> bool:
    return any(p in name or fnmatch.fnmatch(name, p) for p in patterns)


def apply_freezing(model: nn.Module, cfg: TrainConfig) -> list[str]:
    """Set requires_grad from `train_only` / `freeze` patterns; return trainable names."""
    for name, p in model.named_parameters():
        if cfg.train_only:
            p.requires_grad = _matches(name, cfg.train_only)
        elif cfg.freeze and _matches(name, cfg.freeze):
            p.requires_grad = False
    trainable = [n for n, p in model.named_parameters() if p.requires_grad]
    if not trainable:
        raise UserError(f"no trainable parameters left (train_only={cfg.train_only}, "
                         f"freeze={cfg.freeze})")
    return trainable


def build_optimizer(model: nn.Module, cfg: TrainConfig) -> torch.optim.AdamW:
    """No weight decay on norms, biases and embeddings (and a tied head)."""
    decay, no_decay, seen = [], [], set()
    for name, p in model.named_parameters():
        if not p.requires_grad or id(p) in seen:
            continue
        seen.add(id(p))
        if p.dim() < 2 or "norm" in name or "embed_tokens" in name or name.endswith(".bias"):
            no_decay.append(p)
        else:
            decay.append(p)
    groups = [{"params": decay, "weight_decay": cfg.weight_decay},
              {"params": no_decay, "weight_decay": 0.0}]
    return torch.optim.AdamW([g for g in groups if g["params"]], lr=cfg.lr, betas=cfg.betas,
                             fused=use_fused(decay + no_decay) or None)


def use_fused(params: list[torch.Tensor]) -> bool:
    """Fused AdamW (one kernel per step) on CUDA, and on CPU for plain tensors (about 5x faster
    than the per-tensor loop there); sharded (DTensor) parameters on CPU keep the default."""
    kinds = {p.device.type for p in params}
    plain = all(type(p.data) is torch.Tensor for p in params)
    return kinds == {"cuda"} or (kinds == {"cpu"} and plain)


def lr_factor(step: int, cfg: TrainConfig) -> float:
    """Multiplier of cfg.lr at `step` (0-based): linear warmup, then the schedule."""
    if cfg.warmup_steps and step < cfg.warmup_steps:
        return (step + 1) / cfg.warmup_steps
    floor = cfg.min_lr_ratio
    if cfg.schedule == "constant":
        return 1.0
    span = max(1, cfg.max_steps - cfg.warmup_steps - 1)  # the last step lands on the floor
    t = min(1.0, (step - cfg.warmup_steps) / span)
    if cfg.schedule == "cosine":
        return floor + (1 - floor) * 0.5 * (1 + math.cos(math.pi * t))
    if cfg.schedule == "linear":
        return 1.0 - (1 - floor) * t
    # WSD: stable at the peak, then a linear decay over the last decay_fraction of steps
    decay_start = 1.0 - cfg.decay_fraction
    if t < decay_start:
        return 1.0
    return 1.0 - (1 - floor) * (t - decay_start) / cfg.decay_fraction
