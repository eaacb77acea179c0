"""Depth up-scaling of real-family stand-ins keeps their structure: Qwen3's per-head q/k norms
(copied with their layers) and explicit head_dim, Llama 3.1's rope scaling; transformers loads
the grown folder with our logits."""

from __future__ import annotations

import json

import pytest
import torch

from lmforge.grow.dus import depth_upscale
from lmforge.model import load_model
from tests.model.families import REAL_CONFIGS, TINY_LAYERS, write_standin

transformers = pytest.importorskip("transformers")


@pytest.mark.peer
@pytest.mark.parametrize("family", ["qwen3", "llama3"])
def test_dus_keeps_family_structure(tmp_path, family):
    base = write_standin(family, tmp_path / "base")
    grown_dir = depth_upscale(base, tmp_path / "grown", drop=1)
    src, grown = load_model(base), load_model(grown_dir)
    n = TINY_LAYERS
    assert grown.config.num_hidden_layers == 2 * (n - 1)
    same = {"num_hidden_layers", "head_dim"}  # head_dim is written out explicitly on save
    assert grown.config.model_dump(exclude=same) == src.config.model_dump(exclude=same)
    assert grown.config.head_size == src.config.head_size
    order = list(range(0, n - 1)) + list(range(1, n))  # [0..n-2] then [1..n-1]
    for j, i in enumerate(order):
        a, b = grown.model.layers[j].state_dict(), src.model.layers[i].state_dict()
        assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    if family == "qwen3":
        assert all("q_norm.weight" in layer.self_attn.state_dict() for layer in grown.model.layers)
    saved = json.loads((grown_dir / "config.json").read_text())
    real = REAL_CONFIGS[family]
    assert saved.get("head_dim") == (32 if "head_dim" in real else 16)
    if real.get("rope_scaling"):
        assert {k: saved["rope_scaling"][k] for k in real["rope_scaling"]} == real["rope_scaling"]
    ref = transformers.AutoModelForCausalLM.from_pretrained(grown_dir, dtype=torch.float32).eval()
    ids = torch.randint(0, 512, (2, 20), generator=torch.Generator().manual_seed(0))
    pos = torch.arange(5000, 5020).expand(2, 20)
    with torch.no_grad():
        torch.testing.assert_close(grown(ids, position_ids=pos), ref(ids, position_ids=pos).logits, atol=1e-4, rtol=0)
