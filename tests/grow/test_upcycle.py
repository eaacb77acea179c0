"""Sparse upcycling: equal outputs right after, transformers' Mixtral loads it, MoE block parts."""

from __future__ import annotations

import json

import pytest
import torch

from lmforge.grow.upcycle import upcycle, upcycle_model
from lmforge.model import build_model, load_model, preset, save_model
from lmforge.model.moe import SparseMoeBlock


def test_upcycled_equals_dense_and_transformers_mixtral(tmp_path, tiny_config):
    from transformers import AutoModelForCausalLM

    dense = build_model(tiny_config.model_copy(update={"tie_word_embeddings": False}), seed=0).eval()
    base = save_model(dense, tmp_path / "dense", created_by="test")
    out = upcycle(base, tmp_path / "moe", experts=4, top_k=2, router_std=0.02)
    cfg = json.loads((out / "config.json").read_text())
    assert cfg["architectures"] == ["MixtralForCausalLM"] and cfg["num_local_experts"] == 4
    moe = load_model(out)
    ids = torch.randint(0, tiny_config.vocab_size, (2, 10))
    with torch.no_grad():
        ours = moe(ids)
        torch.testing.assert_close(ours, dense(ids), atol=1e-5, rtol=1e-5)
        hf = AutoModelForCausalLM.from_pretrained(out).eval()
        assert type(hf).__name__ == "MixtralForCausalLM"
        torch.testing.assert_close(hf(ids).logits, ours, atol=1e-4, rtol=1e-4)
    # After the experts diverge, the two implementations must still agree (routing included).
    with torch.no_grad():
        for p in moe.parameters():
            p.add_(torch.randn_like(p) * 0.05)
    save_model(moe, tmp_path / "moe2", created_by="test")
    hf = AutoModelForCausalLM.from_pretrained(tmp_path / "moe2").eval()
    with torch.no_grad():
        torch.testing.assert_close(hf(ids).logits, moe(ids), atol=1e-4, rtol=1e-4)


def test_aux_loss_and_training_step(tiny_model):
    moe = upcycle_model(tiny_model, experts=4, top_k=2).train()
    ids = torch.randint(0, 300, (2, 16))
    moe(ids).sum().backward()
    aux = moe.aux_loss()
    assert aux is not None and aux.item() >= 1.0 - 1e-5  # E * sum f*P >= 1 (uniform optimum)
    moe.eval()
    moe(ids)
    assert moe.aux_loss() is None


def test_load_balancing_loss_is_switch_form():
    block = SparseMoeBlock(preset("tiny", num_local_experts=4, num_experts_per_tok=1))
    uniform = torch.full((8, 4), 0.25)
    idx = torch.arange(8).remainder(4)[:, None]
    assert block.load_balancing_loss(uniform, idx).item() == pytest.approx(1.0)
    collapsed = torch.tensor([[1.0, 0, 0, 0]]).expand(8, 4)
    assert block.load_balancing_loss(collapsed, torch.zeros(8, 1, dtype=torch.long)).item() == pytest.approx(4.0)


def test_capacity_drops_overflow():
    cfg = preset("tiny", hidden_size=16, intermediate_size=8, num_attention_heads=2,
                 num_local_experts=2, num_experts_per_tok=1)
    block = SparseMoeBlock(cfg, capacity_factor=0.5)
    with torch.no_grad():
        block.gate.weight.zero_()
        block.gate.weight[0, 0] = 10.0  # every token picks expert 0
    x = torch.ones(1, 8, 16)
    out = block(x)
    kept = (out.abs().sum(-1) > 0).sum().item()
    assert kept == 2  # capacity = ceil(0.5 * 8 * 1 / 2)


def test_upcycle_errors(tiny_model):
    with pytest.raises(ValueError, match="top-k"):
        upcycle_model(tiny_model, experts=2, top_k=3)
    moe = upcycle_model(tiny_model, experts=2, top_k=1)
    with pytest.raises(ValueError, match="already"):
        upcycle_model(moe, experts=2, top_k=1)
