"""Our folders load in transformers with equal logits, and transformers' folders load in ours."""

from __future__ import annotations

import pytest
import torch

from lmforge.model import build_model, load_model, preset, save_model

transformers = pytest.importorskip("transformers")

VARIANTS = {
    "mha": dict(num_key_value_heads=4),
    "gqa": dict(num_key_value_heads=2),
    "tied": dict(tie_word_embeddings=True),
    "untied": dict(tie_word_embeddings=False),
    "qkv_bias": dict(qkv_bias=True),
    "geglu": dict(hidden_act="gelu_pytorch_tanh"),
    "rope_theta": dict(rope_theta=500000.0, rms_norm_eps=1e-6),
}


def _cfg(**kw):
    base = dict(vocab_size=320, hidden_size=64, intermediate_size=96, num_hidden_layers=2,
                num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=128)
    return preset("tiny", **{**base, **kw})


def _ids(vocab: int, b: int = 2, t: int = 17) -> torch.Tensor:
    return torch.randint(0, vocab, (b, t), generator=torch.Generator().manual_seed(1))


@pytest.mark.peer
@pytest.mark.parametrize("name", list(VARIANTS))
def test_transformers_loads_our_folder_with_equal_logits(tmp_path, name):
    cfg = _cfg(**VARIANTS[name])
    model = build_model(cfg, seed=3).eval()
    if cfg.qkv_bias:  # zero-initialised biases would not test the bias path
        with torch.no_grad():
            for layer in model.model.layers:
                for proj in (layer.self_attn.q_proj, layer.self_attn.k_proj, layer.self_attn.v_proj):
                    proj.bias.normal_(0, 0.1)
    save_model(model, tmp_path / "m", created_by="test")
    ref = transformers.AutoModelForCausalLM.from_pretrained(tmp_path / "m", dtype=torch.float32).eval()
    ids = _ids(cfg.vocab_size)
    with torch.no_grad():
        ours = model(ids)
        theirs = ref(ids).logits
    assert type(ref).__name__ == ("Qwen2ForCausalLM" if cfg.qkv_bias else "LlamaForCausalLM")
    torch.testing.assert_close(ours, theirs, atol=1e-4, rtol=0)


def _hf_random(kind: str):
    common = dict(vocab_size=300, hidden_size=64, intermediate_size=96, num_hidden_layers=2,
                  num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=128)
    torch.manual_seed(0)
    if kind == "llama":
        return transformers.LlamaForCausalLM(transformers.LlamaConfig(**common))
    if kind == "mistral":
        return transformers.MistralForCausalLM(transformers.MistralConfig(**common, sliding_window=None))
    cfg = transformers.Qwen2Config(**common, tie_word_embeddings=True)
    model = transformers.Qwen2ForCausalLM(cfg)
    with torch.no_grad():
        for layer in model.model.layers:
            layer.self_attn.q_proj.bias.normal_(0, 0.1)
    return model


@pytest.mark.peer
@pytest.mark.parametrize("kind", ["llama", "mistral", "qwen2"])
def test_we_load_transformers_folders_with_equal_logits(tmp_path, kind):
    ref = _hf_random(kind).eval()
    ref.save_pretrained(tmp_path / kind, safe_serialization=True)
    ours = load_model(tmp_path / kind)
    ids = _ids(300)
    with torch.no_grad():
        torch.testing.assert_close(ours(ids), ref(ids).logits, atol=1e-4, rtol=0)


@pytest.mark.peer
def test_padded_batch_matches_transformers(tmp_path):
    model = build_model(_cfg(), seed=5).eval()
    save_model(model, tmp_path / "m", created_by="test")
    ref = transformers.AutoModelForCausalLM.from_pretrained(tmp_path / "m").eval()
    ids = _ids(320, b=2, t=9)
    mask = torch.ones_like(ids)
    mask[0, :4] = 0  # left padding
    pos = (mask.cumsum(-1) - 1).clamp(min=0)
    with torch.no_grad():
        ours = model(ids, attention_mask=mask)
        theirs = ref(ids, attention_mask=mask, position_ids=pos).logits
    torch.testing.assert_close(ours[mask.bool()], theirs[mask.bool()], atol=1e-4, rtol=0)
