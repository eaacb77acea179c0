"""Our GRPO loss and its gradients equal TRL 1.16's GRPOTrainer._compute_loss on the same
prompts, completions, advantages, old and reference log-probs. TRL's own method runs on a stub
trainer whose per-token log-probs come from transformers' LlamaForCausalLM loading our saved
folder, so the comparison also covers the completion-token alignment of our batch layout."""

from collections import defaultdict
from types import SimpleNamespace

import pytest
import torch

from lmforge.model import build_model, save_model
from lmforge.rl.grpo import group_advantages, grpo_loss, grpo_objective
from lmforge.rl.rollout import layout

trl_grpo = pytest.importorskip("trl.trainer.grpo_trainer")
trl_utils = pytest.importorskip("trl.trainer.utils")
transformers = pytest.importorskip("transformers")


def _stub(logps_fn, beta, loss_type, max_len, eps=(0.2, 0.28)):
    acc = SimpleNamespace(gather=lambda x: x, gather_for_metrics=lambda x: x, reduce=lambda x, reduction: x)
    args = SimpleNamespace(use_bias_correction_kl=False, delta=None)
    return SimpleNamespace(
        _get_per_token_logps_and_entropies=lambda model, ids, att, keep, **kw: (*logps_fn(ids, att, keep), None),
        top_entropy_quantile=1.0, off_policy_mask_threshold=None, importance_sampling_level="token",
        beta=beta, args=args, loss_type=loss_type, epsilon_low=eps[0], epsilon_high=eps[1], use_vllm=False,
        vllm_importance_sampling_correction=False, model=SimpleNamespace(training=True),
        current_gradient_accumulation_steps=1, _entropy_bonus_enabled=False, aux_loss_enabled=False,
        accelerator=acc, _metrics={"train": defaultdict(list)}, max_completion_length=max_len)


def _case(seed=0, n_prompts=3, group=4, prompt_len=5, max_new=7, vocab=300):
    g = torch.Generator().manual_seed(seed)
    prompts = [torch.randint(3, vocab, (prompt_len,), generator=g).tolist() for _ in range(n_prompts)]
    prompts = [p for p in prompts for _ in range(group)]
    lens = torch.randint(1, max_new + 1, (len(prompts),), generator=g).tolist()
    comps = [torch.randint(3, vocab, (n,), generator=g).tolist() for n in lens]
    rewards = torch.randint(0, 3, (len(prompts),), generator=g).float()
    return prompts, comps, rewards, g


def test_group_advantages_equal_trl_formula():
    r = torch.tensor([1.0, 0, 0, 1, 2, 2, 2, 2, 0, 3, 1, 0])
    ours = group_advantages(r, 4)
    mean = r.view(-1, 4).mean(1).repeat_interleave(4)
    std = trl_utils.nanstd(r.view(-1, 4), dim=1).repeat_interleave(4)
    torch.testing.assert_close(ours, (r - mean) / (std + 1e-4), rtol=0, atol=1e-6)
    assert ours[4:8].abs().max() == 0  # a group with one reward teaches nothing
    torch.testing.assert_close(group_advantages(r, 4, "batch"), (r - mean) / (trl_utils.nanstd(r) + 1e-4))


@pytest.mark.parametrize("loss_type,beta", [("grpo", 0.04), ("bnpo", 0.1), ("dr_grpo", 0.0)])
def test_grpo_loss_and_grads_equal_trl(tmp_path, tiny_config, loss_type, beta):
    prompts, comps, rewards, g = _case()
    ours_model = build_model(tiny_config, seed=1)
    save_model(ours_model, tmp_path / "m", created_by="test")
    hf = transformers.AutoModelForCausalLM.from_pretrained(tmp_path / "m", torch_dtype=torch.float32).eval()
    batch = layout(prompts, comps, pad_id=0)
    pw, cw = len(prompts[0]), batch["input_ids"].shape[1] - len(prompts[0])
    cmask = batch["attention_mask"][:, pw:]
    adv = group_advantages(rewards, 4)
    with torch.no_grad():  # old/ref log-probs near the policy's, so some ratios clip
        base = torch.log_softmax(hf(batch["input_ids"]).logits[:, pw - 1:-1], -1)
        base = base.gather(-1, batch["input_ids"][:, pw:, None]).squeeze(-1)
    old = (base + 0.4 * torch.randn(base.shape, generator=g)) * cmask
    ref = (base + 0.3 * torch.randn(base.shape, generator=g)) * cmask

    def hf_logps(ids, att, keep):
        logits = hf(input_ids=ids, attention_mask=att).logits[:, -keep - 1:-1]
        return trl_utils.selective_log_softmax(logits, ids[:, -keep:]), torch.zeros(ids.shape[0], keep)

    stub = _stub(hf_logps, beta, loss_type, cw)
    inputs = {"prompt_ids": batch["input_ids"][:, :pw], "prompt_mask": batch["attention_mask"][:, :pw],
              "completion_ids": batch["input_ids"][:, pw:], "completion_mask": cmask, "advantages": adv,
              "old_per_token_logps": old, "ref_per_token_logps": ref}
    trl_loss = trl_grpo.GRPOTrainer._compute_loss(stub, hf, inputs)
    trl_loss.backward()

    def full(x):  # completion-token tensors (B, C) -> our (B, T-1) layout
        out = torch.zeros(x.shape[0], batch["input_ids"].shape[1] - 1)
        out[:, pw - 1:] = x
        return out

    objective = grpo_objective(beta, 0.2, 0.28, loss_type, max_completion_length=cw)
    ours, metrics = objective(ours_model, {**batch, "advantages": adv, "old_logps": full(old), "ref_logps": full(ref)})
    ours.backward()
    diff = abs(ours.item() - trl_loss.item())
    grads = dict(hf.named_parameters())
    gdiff = max((p.grad - grads[n].grad).abs().max().item() for n, p in ours_model.named_parameters())
    print(f"{loss_type}: |loss - TRL| {diff:.2e}, max |grad - TRL| {gdiff:.2e}")
    assert diff < 1e-5 and gdiff < 1e-5
    assert 0 < metrics["clip_ratio"] < 1  # clipping was exercised
    if beta:
        assert metrics["kl"] == pytest.approx(stub._metrics["train"]["kl"][0], abs=1e-6)
    assert metrics["clip_ratio"] == pytest.approx(stub._metrics["train"]["clip_ratio/region_mean"][0], abs=1e-6)


def test_one_update_per_rollout_is_the_policy_gradient():
    """Without old log-probs the ratio is 1: the loss is -mean(A) (+ KL) and nothing clips."""
    logps = (-torch.rand(4, 6)).requires_grad_()
    adv = torch.tensor([1.0, -1.0, 0.5, -0.5])
    mask = torch.ones(4, 6)
    loss, m = grpo_loss(logps, None, None, adv, mask)
    assert loss.item() == pytest.approx(0.0, abs=1e-7) and m["clip_ratio"] == 0
    loss.backward()
    torch.testing.assert_close(logps.grad, -adv[:, None].expand(4, 6) / 6 / 4)
