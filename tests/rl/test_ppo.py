"""PPO's pieces against a hand-computed example (the numbers worked out in the comments): the KL
folded into the per-token reward, GAE, whitening, and the clipped policy and value losses with
their gradients. TRL 1.16 (installed) no longer ships PPO (PPOTrainer and its helpers were
removed from trl and trl.experimental), so there is no TRL peer to compare with here."""

import math

import pytest
import torch

from lmforge.model import build_model
from lmforge.rl.ppo import (
    gae,
    kl_rewards,
    policy_with_value,
    ppo_loss,
    ppo_objective,
    whiten,
    without_value_head,
)
from lmforge.rl.rollout import layout
from lmforge.train.objectives import masked_token_logprobs

# Two completions in the (B, T-1) layout: row 0 has tokens at positions 1, 2; row 1 at position 1.
MASK = torch.tensor([[0, 1, 1], [0, 1, 0]], dtype=torch.bool)


def test_kl_penalty_goes_into_every_token_and_the_score_onto_the_last():
    logps = torch.tensor([[0.0, -1.0, -2.0], [0.0, -0.5, 0.0]])
    ref = torch.tensor([[0.0, -1.5, -1.0], [0.0, -0.7, 0.0]])
    rewards, kl = kl_rewards(torch.tensor([2.0, -1.0]), logps, ref, MASK, kl_coef=0.1)
    # kl = logp - ref: row 0 (0.5, -1.0), row 1 (0.2); reward -0.1 kl, + score on the last token
    torch.testing.assert_close(kl, torch.tensor([[0.0, 0.5, -1.0], [0.0, 0.2, 0.0]]))
    torch.testing.assert_close(rewards, torch.tensor([[0.0, -0.05, 0.1 + 2.0], [0.0, -0.02 - 1.0, 0.0]]))


def test_gae_by_hand():
    rewards = torch.tensor([[0.0, -0.05, 2.1], [0.0, -1.02, 0.0]])
    values = torch.tensor([[9.0, 0.5, 1.0], [9.0, 0.2, 0.7]])  # 9.0 and 0.7 sit outside the mask
    adv, ret = gae(rewards, values, MASK, gamma=0.9, lam=0.9)
    # row 0: t=2 delta = 2.1 + 0 - 1.0 = 1.1;  t=1 delta = -0.05 + 0.9*1.0 - 0.5 = 0.35,
    #        A = 0.35 + 0.9*0.9*1.1 = 1.241
    # row 1: t=1 delta = -1.02 + 0.9*0 - 0.2 = -1.22 (the value after the last token is 0)
    torch.testing.assert_close(adv, torch.tensor([[0.0, 1.241, 1.1], [0.0, -1.22, 0.0]]))
    torch.testing.assert_close(ret, torch.tensor([[0.0, 1.741, 2.1], [0.0, -1.02, 0.0]]))
    # whitened over the 3 completion tokens: mean 0.373667, unbiased std 1.381955
    torch.testing.assert_close(whiten(adv, MASK), torch.tensor([[0.0, 0.627613, 0.525584], [0.0, -1.153197, 0.0]]),
                               atol=1e-5, rtol=0)


def test_ppo_losses_and_gradients_by_hand():
    old = torch.tensor([[0.0, -1.0, -2.0], [0.0, -0.5, 0.0]])
    logps = torch.tensor([[0.0, -0.8, -2.1], [0.0, -0.9, 0.0]], requires_grad=True)
    adv = torch.tensor([[0.0, 0.6, -0.5], [0.0, 1.0, 0.0]])
    old_v = torch.tensor([[0.0, 0.5, 1.0], [0.0, 0.2, 0.0]])
    values = torch.tensor([[0.0, 0.9, 1.05], [0.0, -0.5, 0.0]], requires_grad=True)
    ret = torch.tensor([[0.0, 1.2, 2.0], [0.0, -1.0, 0.0]])
    loss, m = ppo_loss(logps, values, old, old_v, adv, ret, MASK, cliprange=0.2, cliprange_value=0.2, vf_coef=0.1)
    # ratios e^0.2 = 1.221403 (clipped to 1.2), e^-0.1 = 0.904837, e^-0.4 = 0.670320 (its clip 0.8 is
    # the more optimistic side, so the unclipped term counts)
    # pg per token max(-A r, -A clip(r)): -0.72, 0.452419, -0.670320 -> mean -0.312634
    assert m["pg_loss"] == pytest.approx((-0.72 + 0.5 * math.exp(-0.1) - math.exp(-0.4)) / 3, abs=1e-6)
    assert m["pg_loss"] == pytest.approx(-0.312634, abs=1e-6)
    # values: V_clipped = 0.7, 1.05, 0.0; max((V-R)^2, (Vc-R)^2) = 0.25, 0.9025, 1.0 -> 0.5 * mean = 0.35875
    assert m["vf_loss"] == pytest.approx(0.35875, abs=1e-6)
    assert loss.item() == pytest.approx(-0.312634 + 0.1 * 0.35875, abs=1e-6)
    assert m["clip_ratio"] == pytest.approx(1 / 3) and m["vf_clip_ratio"] == pytest.approx(2 / 3)
    loss.backward()
    # d loss / d logp = -A r / 3 where the unclipped term counts, 0 where the clip does
    torch.testing.assert_close(logps.grad, torch.tensor([[0.0, 0.0, 0.5 * 0.904837 / 3], [0.0, -0.670320 / 3, 0.0]]),
                               atol=1e-6, rtol=0)
    # d loss / d V = 0.1 * 0.5 * 2 (V - R) / 3 where the unclipped value term counts (only token b)
    torch.testing.assert_close(values.grad, torch.tensor([[0.0, 0.0, 0.1 * (1.05 - 2.0) / 3], [0.0, 0.0, 0.0]]),
                               atol=1e-6, rtol=0)


def test_value_head_wraps_the_policy(tiny_config):
    lm = build_model(tiny_config, seed=1)
    model = policy_with_value(lm)
    batch = layout([[5, 6, 7], [8]], [[9, 10], [11, 12, 13]], pad_id=0)
    logps, values = model(batch["input_ids"], attention_mask=batch["attention_mask"], labels=batch["labels"],
                          output="logps_values")
    want, mask = masked_token_logprobs(lm, batch["input_ids"], batch["labels"], batch["attention_mask"])
    torch.testing.assert_close(logps, want)
    assert values.shape == want.shape and values.abs().max() == 0  # the head starts at 0
    plain = without_value_head(model)
    assert not any(k.startswith("v_head") for k in plain.state_dict())
    torch.testing.assert_close(plain.lm_head.weight, lm.lm_head.weight)
    # the objective on a rollout-shaped batch: at the sampling policy (ratio 1) with returns = 0
    # and old values = 0 the loss is -mean(A) over completion tokens
    adv = torch.randn(want.shape) * mask
    loss, metrics = ppo_objective()(model, {**batch, "old_logps": want.detach(), "old_values": torch.zeros_like(want),
                                            "advantages": adv, "returns": torch.zeros_like(want)})
    assert loss.item() == pytest.approx(-(adv.sum() / mask.sum()).item(), abs=1e-5)
    assert metrics["clip_ratio"] == 0 and metrics["vf_loss"] == 0
