"""Our DPO loss and gradients equal TRL 1.16's DPOTrainer._compute_loss on the same log-probs
(TRL's own method is called with a stub trainer/model that returns those log-probs)."""

from collections import defaultdict
from types import SimpleNamespace

import pytest
import torch

from lmforge.train.preference import dpo_loss

trl_dpo = pytest.importorskip("trl.trainer.dpo_trainer")


def _trl_loss(per_token: torch.Tensor, ref_c, ref_r, completion_mask, beta, loss_type, weights=None):
    b2, t1 = per_token.shape

    def model(**kwargs):
        return SimpleNamespace(log_probs=per_token, entropy=torch.zeros(b2, t1),
                               mean_logits=torch.zeros(b2, t1), is_top1=torch.zeros(b2, t1, dtype=torch.bool))

    model.training = True
    acc = SimpleNamespace(device="cpu", gather=lambda x: x, gather_for_metrics=lambda x: x)
    stub = SimpleNamespace(model=model, accelerator=acc, aux_loss_enabled=False, ld_alpha=None,
                           precompute_ref_logps=True, f_divergence_type="reverse_kl", beta=beta,
                           loss_types=loss_type if isinstance(loss_type, list) else [loss_type],
                           loss_weights=weights or [1.0], use_weighting=False,
                           _metrics={"train": defaultdict(list)}, _total_train_tokens=0, _tp_size=1)
    inputs = {"input_ids": torch.zeros(b2, t1 + 1, dtype=torch.long), "attention_mask": torch.ones(b2, t1 + 1),
              "completion_mask": completion_mask, "ref_chosen_logps": ref_c, "ref_rejected_logps": ref_r}
    return trl_dpo.DPOTrainer._compute_loss(stub, model, inputs, False), stub._metrics["train"]


def _random_pairs(seed: int, n: int, t: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """n pairs (chosen rows first): a completion mask over t + 1 positions, per-token log-probs
    (0 where unlabelled) and reference sequence log-probs."""
    g = torch.Generator().manual_seed(seed)
    completion_mask = (torch.rand(2 * n, t + 1, generator=g) > 0.3).long()
    completion_mask[:, 0] = 0
    tok = -torch.rand(2 * n, t, generator=g) * 3 * completion_mask[:, 1:]
    return completion_mask, tok, -torch.rand(2 * n, generator=g) * 10


@pytest.mark.parametrize("loss_type", ["sigmoid", "ipo"])
def test_dpo_loss_and_grad_equal_trl(loss_type):
    n = 6
    completion_mask, tok, ref = _random_pairs(0, n, 9)
    a = tok.clone().requires_grad_()
    trl_loss, trl_metrics = _trl_loss(a, ref[:n], ref[n:], completion_mask, 0.1, loss_type)
    trl_loss.backward()
    b = tok.clone().requires_grad_()
    lens = completion_mask[:, 1:].sum(1)
    s = b.sum(1)
    ours, metrics = dpo_loss(s[:n], s[n:], ref[:n], ref[n:], 0.1, loss_type, lens[:n], lens[n:])
    ours.backward()
    torch.testing.assert_close(ours, trl_loss)
    torch.testing.assert_close(b.grad, a.grad)
    if loss_type == "sigmoid":
        assert metrics["rewards/accuracy"] == pytest.approx(trl_metrics["rewards/accuracies"][0])
        assert metrics["rewards/margin"] == pytest.approx(trl_metrics["rewards/margins"][0], abs=1e-6)


@pytest.mark.parametrize("weight", [0.5, 2.0])
def test_dpo_with_an_sft_term_equals_trl_sigmoid_plus_sft(weight):
    # RPO: TRL's loss_type ["sigmoid", "sft"] with loss_weights [1, w] against ours with sft_weight w
    n = 5
    completion_mask, tok, ref = _random_pairs(1, n, 7)
    a = tok.clone().requires_grad_()
    trl_loss, _ = _trl_loss(a, ref[:n], ref[n:], completion_mask, 0.1, ["sigmoid", "sft"], [1.0, weight])
    trl_loss.backward()
    b = tok.clone().requires_grad_()
    lens, s = completion_mask[:, 1:].sum(1), (b * completion_mask[:, 1:]).sum(1)  # labelled tokens only, as sequence_logps
    ours, metrics = dpo_loss(s[:n], s[n:], ref[:n], ref[n:], 0.1, "sigmoid", lens[:n], lens[n:], sft_weight=weight)
    ours.backward()
    torch.testing.assert_close(ours, trl_loss)
    m = completion_mask[:, 1:]  # a real model gives unlabelled positions no log-prob: compare the labelled ones
    torch.testing.assert_close(b.grad * m, a.grad * m)
    plain, _ = dpo_loss(s[:n], s[n:], ref[:n], ref[n:], 0.1, "sigmoid", lens[:n], lens[n:])
    nll = -(tok[:n].sum() / lens[:n].sum())
    assert metrics["sft_nll"] == pytest.approx(nll.item()) and ours.item() == pytest.approx(plain.item() + weight * nll.item())


def test_unknown_loss_is_an_error():
    x = torch.zeros(2)
    with pytest.raises(ValueError, match="unknown DPO loss"):
        dpo_loss(x, x, x, x, loss_type="hinge")
