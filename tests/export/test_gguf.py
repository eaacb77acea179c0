"""GGUF export read back with gguf.GGUFReader: metadata, tensor names/shapes, Q/K layout."""

from __future__ import annotations

import gguf
import numpy as np
import pytest
import torch

from lmforge.export.gguf import export_gguf, permute_qk, unpermute_qk
from lmforge.model import load_model
from lmforge.tokenizer import Tokenizer


def _field(reader: gguf.GGUFReader, key: str):
    return reader.fields[key].contents()


def test_permute_roundtrip_and_matches_interleaved_rope():
    w = torch.randn(4 * 8, 16)
    assert torch.equal(unpermute_qk(permute_qk(w, 4), 4), w)
    # after the permutation, rows (2i, 2i+1) of a head are the pair rotate-half rotated together
    p = permute_qk(torch.arange(16.0)[:, None], 2).flatten().tolist()
    assert p[:8] == [0, 4, 1, 5, 2, 6, 3, 7]


@pytest.mark.parametrize("out_type", ["f32", "q8_0"])
def test_gguf_roundtrip(model_dir, tmp_path, out_type):
    out = export_gguf(model_dir, tmp_path / "m.gguf", out_type)
    r = gguf.GGUFReader(out)
    model = load_model(model_dir)
    cfg, tok = model.config, Tokenizer.from_dir(model_dir)
    assert _field(r, "general.architecture") == "llama"
    assert _field(r, "llama.block_count") == cfg.num_hidden_layers
    assert _field(r, "llama.attention.head_count_kv") == cfg.kv_heads
    assert _field(r, "llama.context_length") == cfg.max_position_embeddings
    assert _field(r, "llama.rope.freq_base") == pytest.approx(cfg.rope_theta)
    assert _field(r, "llama.attention.layer_norm_rms_epsilon") == pytest.approx(cfg.rms_norm_eps)
    assert _field(r, "tokenizer.ggml.model") == "gpt2"
    assert _field(r, "tokenizer.ggml.pre") == "qwen2"
    tokens = _field(r, "tokenizer.ggml.tokens")
    assert len(tokens) == cfg.vocab_size
    assert tokens[tok.eos_id] == "</s>" and _field(r, "tokenizer.ggml.eos_token_id") == tok.eos_id
    assert tokens[tok.token_id("<|im_end|>")] == "<|im_end|>"
    assert _field(r, "tokenizer.chat_template") == tok.chat_template
    assert len(_field(r, "tokenizer.ggml.merges")) > 10

    ours = dict(model.state_dict())
    tensors = {t.name: t for t in r.tensors}
    expected = {"token_embd.weight", "output_norm.weight", "output.weight"} | {
        f"blk.{i}.{n}.weight" for i in range(cfg.num_hidden_layers) for n in (
            "attn_norm", "attn_q", "attn_k", "attn_v", "attn_output", "ffn_norm", "ffn_gate",
            "ffn_up", "ffn_down")}
    assert set(tensors) == expected
    for i in range(cfg.num_hidden_layers):
        for name, ref, heads in (("attn_q", "q_proj", cfg.num_attention_heads), ("attn_k", "k_proj", cfg.kv_heads)):
            t = tensors[f"blk.{i}.{name}.weight"]
            data = gguf.quants.dequantize(t.data, t.tensor_type).reshape(ours[f"model.layers.{i}.self_attn.{ref}.weight"].shape)
            back = unpermute_qk(torch.from_numpy(np.array(data, dtype=np.float32)), heads)
            want = ours[f"model.layers.{i}.self_attn.{ref}.weight"]
            if out_type == "f32":
                assert torch.equal(back, want)
            else:
                assert torch.allclose(back, want, atol=want.abs().max().item() / 100)
    assert tensors["blk.0.attn_norm.weight"].tensor_type == gguf.GGMLQuantizationType.F32


def test_export_rejects_deepnorm(tmp_path):
    from lmforge.model import build_model, preset, save_model

    d = save_model(build_model(preset("tiny", deepnorm=True, hidden_act="gelu"), seed=0), tmp_path / "m",
                   created_by="test")
    with pytest.raises(ValueError, match="deepnorm"):
        export_gguf(d, tmp_path / "x.gguf")


def test_byte_tokenizer_without_merges_gets_an_inert_merge(tmp_path):
    """llama.cpp refuses a BPE vocabulary without merges; the byte tokenizer has none."""
    from lmforge.model import build_model, preset, save_model
    from lmforge.tokenizer import byte_tokenizer

    tok = byte_tokenizer()
    d = save_model(build_model(preset("tiny", vocab_size=tok.vocab_size, hidden_size=64, intermediate_size=128,
                                      num_hidden_layers=1), seed=0),
                   tmp_path / "m", created_by="test", extra_files=tok.files())
    r = gguf.GGUFReader(export_gguf(d, tmp_path / "b.gguf", "f16"))
    assert _field(r, "tokenizer.ggml.merges") == ["<pad> <pad>"]
    assert _field(r, "tokenizer.ggml.pre") == "default"
    assert r.tensors[0].tensor_type in (gguf.GGMLQuantizationType.F16, gguf.GGMLQuantizationType.F32)
