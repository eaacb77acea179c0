"""Rollouts for PPO: one sampled completion per prompt from the current policy, its reward, the
policy's own log-probs and values at sampling time, the frozen reference's log-probs, the
KL-penalized per-token rewards, GAE advantages (whitened over the batch) and returns. Each
rollout is served `epochs` times in a row (PPO's epochs over one batch of experience); the
rollout being replayed is part of the source's state, so a resumed run replays it exactly."""

from __future__ import annotations

from typing import Any

import torch

from lmforge.model.generate import SamplingParams
from lmforge.rl.ppo import PolicyWithValue, gae, kl_rewards, masked_mean, whiten
from lmforge.rl.rewards import RewardSet
from lmforge.rl.rollout import RolloutSource, autocast_for, share_stats
from lmforge.tokenizer.core import Tokenizer


class PPORollouts(RolloutSource):
    def __init__(self, policy: PolicyWithValue, reference, tok: Tokenizer, prompts: list[dict],
                 rewards: RewardSet, batch_size: int, params: SamplingParams, kl_coef: float = 0.05,
                 gamma: float = 1.0, lam: float = 0.95, epochs: int = 1, whiten_advantages: bool = True,
                 whiten_scores: bool = False, seed: int = 0, precision: str = "auto", rank: int = 0, world: int = 1):
        super().__init__(policy, reference, tok, prompts, rewards, 1, batch_size, params, "none", seed,
                         precision, rank, world)
        self.kl_coef, self.gamma, self.lam, self.epochs, self.whiten = kl_coef, gamma, lam, epochs, whiten_advantages
        self.whiten_scores = whiten_scores
        self.cached: dict[str, torch.Tensor] | None = None
        self.served = 0

    @torch.no_grad()
    def _policy_pass(self, batch: dict[str, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        device = next(self.policy.parameters()).device
        was = self.policy.training
        self.policy.eval()
        with autocast_for(device, self.precision)():
            lp, v = self.policy(*(batch[k].to(device) for k in ("input_ids", "attention_mask")),
                                labels=batch["labels"].to(device), output="logps_values")
        self.policy.train(was)
        return lp.float().cpu(), v.float().cpu()

    def _fresh(self) -> dict[str, torch.Tensor]:
        batch, raw, _ = self.rollout()
        scores = raw
        mask = batch["labels"][:, 1:] != -100
        old_logps, old_values = self._policy_pass(batch)
        ref = None
        if self.reference is not None and self.kl_coef:
            self.reference.to(next(self.policy.parameters()).device)
            ref = self._reference_logps(batch)
        if self.whiten_scores and len(scores) > 1:
            scores = (scores - scores.mean()) / (scores.std() + 1e-8)
        rewards, kl = kl_rewards(scores, old_logps, ref, mask, self.kl_coef)
        adv, returns = gae(rewards, old_values, mask, self.gamma, self.lam)
        batch.update(old_logps=old_logps * mask, old_values=old_values * mask, returns=returns,
                     advantages=whiten(adv, mask) if self.whiten else adv)
        batch["stat/kl"] = kl.sum(-1).mean()
        batch["stat/non_score_reward"] = (-self.kl_coef * kl).sum(-1).mean()
        batch["stat/value_start"] = masked_mean(old_values, mask)
        share_stats(batch, raw, self.world)
        return batch

    def next_batch(self) -> dict[str, torch.Tensor]:
        if self.cached is None or self.served >= self.epochs:
            self.cached, self.served = self._fresh(), 0
        self.served += 1
        return {**self.cached, "stat/ppo_epoch": torch.tensor(float(self.served))}

    def state_dict(self) -> dict[str, Any]:
        return {**super().state_dict(), "served": self.served, "cached": self.cached}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        super().load_state_dict(state)
        self.served, self.cached = state["served"], state["cached"]
