"""PPO (InstructGPT / Llama 2): a value head on the policy's last hidden state, the KL to the
frozen start model folded into the per-token reward, GAE, and the clipped policy and value
losses; the objective the one training loop runs (rollouts: `ppo_rollout.PPORollouts`)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch import nn

from lmforge.model.config import ModelConfig
from lmforge.model.transformer import CausalLM


class PolicyWithValue(CausalLM):
    """The policy plus a `v_head` (Linear(hidden, 1) with bias) read at every position: the value
    at position t is the state's value before the token at t + 1 is generated, aligned with
    the (B, T-1) token log-probs. Generation and every other output are the CausalLM's."""

    def __init__(self, cfg: ModelConfig):
        super().__init__(cfg)
        self.v_head = nn.Linear(cfg.hidden_size, 1)

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor | None = None,
                output: str = "loss", labels: torch.Tensor | None = None, **kw: Any):
        """`output="logps_values"`: ((B, T-1) log-probs of labels[:, 1:], (B, T-1) values) from
        one pass; anything else is the CausalLM's forward."""
        if output != "logps_values":
            return super().forward(input_ids, attention_mask=attention_mask, output=output, labels=labels, **kw)
        hidden = super().forward(input_ids, attention_mask=attention_mask, return_hidden=True, **kw)
        logps = self.label_output(hidden, labels, "token_logprobs")
        values = self.v_head(hidden[:, :-1]).squeeze(-1).float()
        return logps, values


def policy_with_value(lm: CausalLM) -> PolicyWithValue:
    """`lm`'s weights with a zero value head (every value 0 at the start)."""
    model = PolicyWithValue(lm.config)
    missing, unexpected = model.load_state_dict(lm.state_dict(), strict=False)
    assert sorted(missing) == ["v_head.bias", "v_head.weight"] and not unexpected, (missing, unexpected)
    with torch.no_grad():
        model.v_head.weight.zero_()
        model.v_head.bias.zero_()
    return model.to(next(lm.parameters()).dtype)


def without_value_head(model: PolicyWithValue) -> CausalLM:
    """A plain CausalLM sharing `model`'s weights (what the policy folder holds)."""
    lm = CausalLM(model.config)
    lm.load_state_dict({k: v for k, v in model.state_dict().items() if not k.startswith("v_head.")})
    return lm


def masked_mean(x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    mask = mask.to(x.dtype)
    return (x * mask).sum() / mask.sum().clamp(min=1.0)


def whiten(x: torch.Tensor, mask: torch.Tensor, shift_mean: bool = True) -> torch.Tensor:
    """(x - mean) / sqrt(var + 1e-8) over the masked entries (unbiased variance, as TRL's
    masked_whiten); 0 outside the mask."""
    m = mask.to(x.dtype)
    mean = masked_mean(x, m)
    n = m.sum()
    var = masked_mean((x - mean) ** 2, m) * (n / (n - 1).clamp(min=1.0))
    out = (x - mean) * torch.rsqrt(var + 1e-8)
    if not shift_mean:
        out = out + mean
    return out * m


def kl_rewards(scores: torch.Tensor, logps: torch.Tensor, ref_logps: torch.Tensor | None, mask: torch.Tensor,
               kl_coef: float) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-token rewards: -kl_coef * (logp - ref_logp) on every completion token, plus the
    sequence's score on its last token (InstructGPT, Llama 2). Returns (rewards, per-token kl)."""
    m = mask.to(logps.dtype)
    kl = (logps - ref_logps) * m if ref_logps is not None else torch.zeros_like(logps)
    rewards = -kl_coef * kl
    last = (torch.arange(mask.shape[1], device=mask.device) * mask).argmax(-1)
    rows = torch.arange(mask.shape[0], device=mask.device)
    rewards[rows, last] += scores.to(rewards.dtype) * (mask.sum(-1) > 0)
    return rewards, kl


def gae(rewards: torch.Tensor, values: torch.Tensor, mask: torch.Tensor, gamma: float = 1.0,
        lam: float = 0.95) -> tuple[torch.Tensor, torch.Tensor]:
    """Generalized advantage estimation over each row's completion tokens (values and rewards
    count only under `mask`; the value after the last token is 0). Returns (advantages, returns
    = advantages + values), both 0 outside the mask."""
    m = mask.to(values.dtype)
    values, rewards = values * m, rewards * m
    adv = torch.zeros_like(values)
    last = torch.zeros_like(values[:, 0])
    for t in reversed(range(values.shape[1])):
        next_value = values[:, t + 1] if t + 1 < values.shape[1] else torch.zeros_like(last)
        delta = rewards[:, t] + gamma * next_value - values[:, t]
        last = (delta + gamma * lam * last) * m[:, t]
        adv[:, t] = last
    return adv, (adv + values) * m


def ppo_loss(logps: torch.Tensor, values: torch.Tensor, old_logps: torch.Tensor, old_values: torch.Tensor,
             advantages: torch.Tensor, returns: torch.Tensor, mask: torch.Tensor, cliprange: float = 0.2,
             cliprange_value: float = 0.2, vf_coef: float = 0.1) -> tuple[torch.Tensor, dict[str, float]]:
    """pg = mean over completion tokens of max(-A ratio, -A clip(ratio, 1 +- cliprange));
    vf = 0.5 mean of max((V - R)^2, (V_old + clip(V - V_old, +- cliprange_value) - R)^2);
    loss = pg + vf_coef * vf."""
    ratio = torch.exp(logps - old_logps)
    pg1 = -advantages * ratio
    pg2 = -advantages * torch.clamp(ratio, 1 - cliprange, 1 + cliprange)
    pg_loss = masked_mean(torch.max(pg1, pg2), mask)
    v_clipped = old_values + torch.clamp(values - old_values, -cliprange_value, cliprange_value)
    vf1, vf2 = (values - returns) ** 2, (v_clipped - returns) ** 2
    vf_loss = 0.5 * masked_mean(torch.max(vf1, vf2), mask)
    loss = pg_loss + vf_coef * vf_loss
    with torch.no_grad():
        metrics = {"pg_loss": float(pg_loss), "vf_loss": float(vf_loss),
                   "clip_ratio": float(masked_mean((pg2 > pg1).float(), mask)),
                   "vf_clip_ratio": float(masked_mean((vf2 > vf1).float(), mask)),
                   "approx_kl": float(0.5 * masked_mean((logps - old_logps) ** 2, mask)),
                   "value": float(masked_mean(values, mask))}
    return loss, metrics


def ppo_objective(cliprange: float = 0.2, cliprange_value: float = 0.2, vf_coef: float = 0.1
                  ) -> Callable[[PolicyWithValue, dict[str, torch.Tensor]], tuple[torch.Tensor, dict[str, float]]]:
    """Objective for the trainer on PPORollouts batches: `input_ids`, `attention_mask`, `labels`
    (-100 outside completions), and (B, T-1) `old_logps`, `old_values`, `advantages`, `returns`."""

    def objective(model: PolicyWithValue, batch: dict[str, torch.Tensor]) -> tuple[torch.Tensor, dict[str, float]]:
        logps, values = model(batch["input_ids"], attention_mask=batch["attention_mask"], labels=batch["labels"],
                              output="logps_values")
        mask = batch["labels"][:, 1:] != -100
        loss, metrics = ppo_loss(logps.float(), values, batch["old_logps"], batch["old_values"],
                                 batch["advantages"], batch["returns"], mask, cliprange, cliprange_value, vf_coef)
        stats = {k.split("/", 1)[1]: float(v) for k, v in batch.items() if k.startswith("stat/")}
        return loss, {**metrics, **stats}

    return objective
