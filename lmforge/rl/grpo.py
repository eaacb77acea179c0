"""GRPO (DeepSeekMath): group-normalized advantages, the clipped policy ratio and a k3 KL to
a frozen reference, on per-token log-probs; the objective the one training loop runs."""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal

import torch

from lmforge.model.transformer import CausalLM
from lmforge.train.objectives import masked_token_logprobs

LossType = Literal["grpo", "bnpo", "dr_grpo"]
ScaleRewards = Literal["group", "batch", "none"]


def group_advantages(rewards: torch.Tensor, group: int, scale: ScaleRewards = "group") -> torch.Tensor:
    """(r - mean of its group) / (std + 1e-4), std unbiased over the group ("group"), over the
    whole batch ("batch"), or no scaling ("none"), as TRL's GRPOTrainer computes them."""
    grouped = rewards.view(-1, group)
    adv = (grouped - grouped.mean(1, keepdim=True)).flatten()
    if scale == "group":
        std = grouped.std(1).repeat_interleave(group) if group > 1 else torch.zeros_like(rewards)
    elif scale == "batch":
        std = rewards.std().expand_as(rewards) if rewards.numel() > 1 else torch.zeros_like(rewards)
    else:
        return adv
    return adv / (std + 1e-4)


def grpo_loss(logps: torch.Tensor, old_logps: torch.Tensor | None, ref_logps: torch.Tensor | None,
              advantages: torch.Tensor, mask: torch.Tensor, beta: float = 0.0, epsilon_low: float = 0.2,
              epsilon_high: float = 0.2, loss_type: LossType = "grpo", max_completion_length: int | None = None
              ) -> tuple[torch.Tensor, dict[str, float]]:
    """Loss over per-token log-probs (B, T) of the completion tokens (`mask` 1 there).

    ratio = exp(logp - old); per token -min(ratio A, clip(ratio, 1-eps_low, 1+eps_high) A)
    + beta (exp(ref - logp) - (ref - logp) - 1); "grpo" averages each sequence's tokens, then the
    sequences (DeepSeekMath), "bnpo" all tokens of the batch, "dr_grpo" divides by B * max length.
    Without old log-probs (one update per rollout) the ratio is 1 and the gradient the policy
    gradient."""
    mask = mask.to(logps.dtype)
    old = logps.detach() if old_logps is None else old_logps
    adv = advantages.unsqueeze(1) if advantages.dim() == 1 else advantages
    ratio = torch.exp(logps - old)
    clipped = torch.clamp(ratio, 1 - epsilon_low, 1 + epsilon_high)
    per_token = -torch.min(ratio * adv, clipped * adv)
    kl = None
    if beta != 0.0:
        diff = ref_logps - logps
        kl = torch.exp(diff) - diff - 1
        per_token = per_token + beta * kl
    if loss_type == "grpo":
        loss = ((per_token * mask).sum(-1) / mask.sum(-1).clamp(min=1.0)).mean()
    elif loss_type == "bnpo":
        loss = (per_token * mask).sum() / mask.sum().clamp(min=1.0)
    elif loss_type == "dr_grpo":
        loss = (per_token * mask).sum() / (per_token.shape[0] * (max_completion_length or per_token.shape[1]))
    else:
        raise ValueError(f"unknown GRPO loss type {loss_type!r}")
    return loss, _metrics(ratio, adv, kl, mask, epsilon_low, epsilon_high)


def _metrics(ratio, adv, kl, mask, eps_low: float, eps_high: float) -> dict[str, float]:
    n = mask.sum().clamp(min=1.0)
    with torch.no_grad():
        low = ((ratio < 1 - eps_low) & (adv < 0)).to(mask.dtype)
        high = ((ratio > 1 + eps_high) & (adv > 0)).to(mask.dtype)
        out = {"clip_ratio": float(((low + high).clamp(max=1) * mask).sum() / n)}
        if kl is not None:
            out["kl"] = float((kl * mask).sum() / n)
    return out


def grpo_objective(beta: float = 0.04, epsilon_low: float = 0.2, epsilon_high: float = 0.2,
                   loss_type: LossType = "grpo", max_completion_length: int | None = None
                   ) -> Callable[[CausalLM, dict[str, torch.Tensor]], tuple[torch.Tensor, dict[str, float]]]:
    """Objective for the trainer. The batch (see rollout.RolloutSource) holds prompt+completion
    `input_ids`, `attention_mask`, `labels` (-100 outside completion tokens), `advantages`,
    `ref_logps` (B, T-1; when beta != 0), optional `old_logps`, and `stat/*` scalars to log."""

    def objective(model: CausalLM, batch: dict[str, torch.Tensor]) -> tuple[torch.Tensor, dict[str, float]]:
        logps, mask = masked_token_logprobs(model, batch["input_ids"], batch["labels"], batch["attention_mask"])
        loss, metrics = grpo_loss(logps, batch.get("old_logps"), batch.get("ref_logps"), batch["advantages"],
                                  mask, beta, epsilon_low, epsilon_high, loss_type, max_completion_length)
        stats = {k.split("/", 1)[1]: float(v) for k, v in batch.items() if k.startswith("stat/")}
        return loss, {**metrics, **stats}

    return objective
