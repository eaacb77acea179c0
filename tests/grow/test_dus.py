"""Depth up-scaling and slices: mergekit's passthrough mapping, transformers loading, errors."""

from __future__ import annotations

import json

import pytest
import torch
import yaml
from safetensors import safe_open

from lmforge.grow.dus import depth_upscale
from lmforge.grow.slices import grow_slices
from lmforge.model import load_model, preset
from lmforge.model.flops import param_count
from lmforge.model.io import read_weights

N = 6


def _mistral_dir(path, seed=0, hidden=32):
    from transformers import MistralConfig, MistralForCausalLM

    torch.manual_seed(seed)
    cfg = MistralConfig(vocab_size=128, hidden_size=hidden, intermediate_size=48, num_hidden_layers=N,
                        num_attention_heads=4, num_key_value_heads=2, head_dim=hidden // 4,
                        max_position_embeddings=64, sliding_window=None, tie_word_embeddings=False)
    MistralForCausalLM(cfg).save_pretrained(path)
    return path


def _passthrough(src: dict, ranges: list[tuple[int, int]]) -> dict:
    """mergekit's documented passthrough mapping, written independently of our code."""
    out = {"model.embed_tokens.weight": src["model.embed_tokens.weight"],
           "model.norm.weight": src["model.norm.weight"], "lm_head.weight": src["lm_head.weight"]}
    layers = [i for a, b in ranges for i in range(a, b)]
    for j, i in enumerate(layers):
        for k, v in src.items():
            if k.startswith(f"model.layers.{i}."):
                out[k.replace(f"model.layers.{i}.", f"model.layers.{j}.", 1)] = v
    return out


def test_dus_matches_passthrough_and_loads_in_transformers(tmp_path):
    from transformers import AutoModelForCausalLM

    base = _mistral_dir(tmp_path / "base")
    out = depth_upscale(base, tmp_path / "dus", drop=2)
    src, got = read_weights(base), read_weights(out)
    want = _passthrough(src, [(0, N - 2), (2, N)])
    assert sorted(got) == sorted(want)
    for k in want:
        assert torch.equal(got[k], want[k]), k
    cfg = json.loads((out / "config.json").read_text())
    assert cfg["num_hidden_layers"] == 2 * (N - 2)
    meta = json.loads((out / "lmforge.json").read_text())["lineage"][-1]["details"]
    assert meta["recipe"]["drop"] == 2 and len(meta["source_hashes"][str(base)]) == 16
    with safe_open(str(out / "model.safetensors"), "pt") as f:  # independent copies
        ptrs = [f.get_tensor(k).data_ptr() for k in f.keys()]
    assert len(set(ptrs)) == len(ptrs)
    ids = torch.randint(0, 128, (2, 12))
    hf = AutoModelForCausalLM.from_pretrained(out).eval()
    with torch.no_grad():
        torch.testing.assert_close(hf(ids).logits, load_model(out)(ids), atol=1e-4, rtol=1e-4)


def test_target_layers_and_repeat(tmp_path, tiny_model):
    from lmforge.model import save_model

    base = save_model(tiny_model, tmp_path / "base", created_by="test")  # 2 layers, tied
    rep = depth_upscale(base, tmp_path / "rep", drop=0)
    m = load_model(rep)
    assert m.config.num_hidden_layers == 4
    w = read_weights(rep)
    assert torch.equal(w["model.layers.0.mlp.up_proj.weight"], w["model.layers.2.mlp.up_proj.weight"])
    with pytest.raises(ValueError, match="target-layers"):
        depth_upscale(base, tmp_path / "x", target_layers=3)


def test_bad_input_errors(tmp_path):
    base = _mistral_dir(tmp_path / "a")
    with pytest.raises(ValueError, match="--drop 3"):
        depth_upscale(base, tmp_path / "x", drop=3)
    other = _mistral_dir(tmp_path / "b", hidden=64)
    spec = tmp_path / "s.yaml"
    spec.write_text(yaml.safe_dump({"slices": [{"model": str(base), "layer_range": [0, 4]},
                                               {"model": str(base), "layer_range": [2, 9]}]}))
    with pytest.raises(ValueError, match=r"slices\[1\].layer_range \[2, 9\] is out of bounds"):
        grow_slices(spec, tmp_path / "x")
    spec.write_text(yaml.safe_dump({"slices": [{"model": str(base), "layer_range": [0, 4]},
                                               {"model": str(other), "layer_range": [2, 6]}]}))
    with pytest.raises(ValueError, match="different architecture.*hidden_size"):
        grow_slices(spec, tmp_path / "x")
    assert not (tmp_path / "x").exists()


def test_slices_two_models_and_scale(tmp_path):
    a, b = _mistral_dir(tmp_path / "a", seed=0), _mistral_dir(tmp_path / "b", seed=1)
    spec = tmp_path / "s.yaml"
    spec.write_text(yaml.safe_dump({"slices": [
        {"model": str(a), "layer_range": [0, 3]},
        {"model": str(b), "layer_range": [1, 6], "scale": 0.5}]}))
    got = read_weights(grow_slices(spec, tmp_path / "out"))
    wa, wb = read_weights(a), read_weights(b)
    assert torch.equal(got["model.embed_tokens.weight"], wa["model.embed_tokens.weight"])
    assert torch.equal(got["model.norm.weight"], wb["model.norm.weight"])
    assert torch.equal(got["lm_head.weight"], wb["lm_head.weight"])
    assert torch.equal(got["model.layers.3.self_attn.o_proj.weight"],
                       wb["model.layers.1.self_attn.o_proj.weight"] * 0.5)
    assert torch.equal(got["model.layers.3.mlp.down_proj.weight"],
                       wb["model.layers.1.mlp.down_proj.weight"] * 0.5)
    assert torch.equal(got["model.layers.3.mlp.up_proj.weight"], wb["model.layers.1.mlp.up_proj.weight"])
    assert sum(k.endswith("input_layernorm.weight") for k in got) == 8


def test_solar_preset_is_10_7b():
    solar = preset("mistral-7b", num_hidden_layers=2 * (32 - 8))
    assert round(param_count(solar) / 1e9, 1) == 10.7
    assert param_count(preset("solar-10.7b")) == param_count(solar)


@pytest.mark.slow
def test_dus_equals_mergekit_passthrough(tmp_path):
    """mergekit itself (the `test` extra) runs the SOLAR passthrough recipe; every tensor equal."""
    import shutil
    import subprocess
    import sys
    from pathlib import Path

    exe = Path(sys.executable).parent / "mergekit-yaml"
    if not exe.exists() and shutil.which("mergekit-yaml") is None:
        pytest.skip("mergekit is not installed (pip install -e .[test])")
    base = _mistral_dir(tmp_path / "base")
    recipe = tmp_path / "merge.yaml"
    recipe.write_text(yaml.safe_dump({
        "slices": [{"sources": [{"model": str(base), "layer_range": [0, N - 2]}]},
                   {"sources": [{"model": str(base), "layer_range": [2, N]}]}],
        "merge_method": "passthrough", "dtype": "float32"}))
    subprocess.run([str(exe if exe.exists() else "mergekit-yaml"), str(recipe), str(tmp_path / "mk"),
                    "--no-copy-tokenizer"], check=True, capture_output=True)
    theirs, ours = read_weights(tmp_path / "mk"), read_weights(depth_upscale(base, tmp_path / "dus", drop=2))
    assert sorted(theirs) == sorted(ours)
    for k in theirs:
        assert torch.equal(theirs[k], ours[k]), k
