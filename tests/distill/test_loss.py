"""The distillation loss: hand-computed values, TRL's GKD loss on the same logits, and the chunked
objective on two tiny models against the same loss on their full logits."""

from __future__ import annotations

import math
import warnings

import pytest
import torch
import torch.nn.functional as F

from lmforge.distill.loss import distill_loss, distill_objective, divergence
from lmforge.model import build_model, preset

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from trl.experimental.gkd import GKDTrainer

STUDENT = torch.tensor([[0.0, 0.0]])  # p_s = (1/2, 1/2)
TEACHER = torch.tensor([[math.log(3.0), 0.0]])  # p_t = (3/4, 1/4)


@pytest.mark.parametrize("beta, temperature, expected", [
    # KL(t||s) = 3/4 ln(3/2) + 1/4 ln(1/2)
    (0.0, 1.0, 0.130812036),
    # KL(s||t) = 1/2 ln(2/3) + 1/2 ln 2
    (1.0, 1.0, 0.143841036),
    # M = (5/8, 3/8): 1/2 [3/4 ln(6/5) + 1/4 ln(2/3)] + 1/2 [1/2 ln(4/5) + 1/2 ln(4/3)]
    (0.5, 1.0, 0.033822076),
    # T = 2: p_t = (sqrt3, 1) / (sqrt3 + 1) = (0.633975, 0.366025); KL(t||s)
    (0.0, 2.0, 0.036340783),
])
def test_divergence_by_hand(beta, temperature, expected):
    assert divergence(STUDENT, TEACHER, beta, temperature).item() == pytest.approx(expected, abs=1e-7)


def test_alpha_mixes_cross_entropy_by_hand():
    """Two positions (the second ignored): loss = alpha * ln 2 + (1 - alpha) * KL(t||s)."""
    teacher = build_model(preset("tiny", vocab_size=2, hidden_size=8, intermediate_size=16, num_hidden_layers=1,
                                 num_attention_heads=2, num_key_value_heads=1), seed=0)
    student = build_model(teacher.config, seed=1)
    with torch.no_grad():  # constant logits: the head maps every hidden state to the given row
        for m, row in ((student, STUDENT[0]), (teacher, TEACHER[0])):
            m.lm_head.weight.zero_()
            m.model.norm.weight.zero_()
            m.lm_head.bias = torch.nn.Parameter(row.clone())
    batch = {"input_ids": torch.tensor([[0, 0, 1]]), "labels": torch.tensor([[0, 0, -100]])}
    loss, metrics = distill_objective(teacher, beta=0.0, alpha=0.25)(student, batch)
    assert metrics["ce"] == pytest.approx(math.log(2), abs=1e-6)
    assert metrics["kd"] == pytest.approx(0.130812036, abs=1e-6)
    assert loss.item() == pytest.approx(0.25 * math.log(2) + 0.75 * 0.130812036, abs=1e-6)


@pytest.mark.parametrize("temperature", [1.0, 2.0])
@pytest.mark.parametrize("beta", [0.0, 0.5, 1.0])
def test_equals_trl_gkd_loss_and_gradients(beta, temperature):
    gen = torch.Generator().manual_seed(7)
    s = (torch.randn(2, 5, 11, generator=gen) * 3).requires_grad_()
    t = torch.randn(2, 5, 11, generator=gen) * 3
    labels = torch.randint(0, 11, (2, 5), generator=gen)
    labels[0, :2] = -100
    ours = distill_loss(s, t, labels, beta, temperature)
    (g_ours,) = torch.autograd.grad(ours, s)
    theirs = GKDTrainer.generalized_jsd_loss(s, t, labels, beta=beta, temperature=temperature)
    (g_theirs,) = torch.autograd.grad(theirs, s)
    assert ours.item() == pytest.approx(theirs.item(), abs=1e-5)
    assert torch.allclose(g_ours, g_theirs, atol=1e-6)


def _tiny(layers: int, seed: int):
    return build_model(preset("tiny", vocab_size=37, hidden_size=16, intermediate_size=32, num_hidden_layers=layers,
                              num_attention_heads=2, num_key_value_heads=1), seed=seed)


@pytest.mark.parametrize("beta", [0.0, 0.5, 1.0])
def test_chunked_objective_equals_full_logits(beta):
    """The objective (chunks of 3 positions, recomputed in backward) against TRL's loss and
    plain CE on the full logits of the same two models: value and student gradients."""
    teacher, student = _tiny(2, 0), _tiny(1, 1)
    ids = torch.randint(0, 37, (2, 9), generator=torch.Generator().manual_seed(3))
    labels = ids.clone()
    labels[1, :4] = -100
    loss, metrics = distill_objective(teacher, beta, 1.5, alpha=0.3, chunk=3)(student, {"input_ids": ids,
                                                                                          "labels": labels})
    grads = torch.autograd.grad(loss, list(student.parameters()))
    s_logits, t_logits = student(ids)[:, :-1], teacher(ids)[:, :-1].detach()
    kd = GKDTrainer.generalized_jsd_loss(s_logits, t_logits, labels[:, 1:], beta=beta, temperature=1.5)
    ce = F.cross_entropy(s_logits.reshape(-1, 37), labels[:, 1:].reshape(-1), ignore_index=-100)
    full = 0.3 * ce + 0.7 * kd
    assert loss.item() == pytest.approx(full.item(), abs=1e-5)
    assert metrics["kd"] == pytest.approx(kd.item(), abs=1e-5) and metrics["ce"] == pytest.approx(ce.item(), abs=1e-5)
    for g, g_full in zip(grads, torch.autograd.grad(full, list(student.parameters()))):
        assert torch.allclose(g, g_full, atol=1e-5)
    assert not any(p.requires_grad for p in teacher.parameters())
