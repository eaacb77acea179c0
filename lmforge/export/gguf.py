"""Write a model folder as a GGUF file llama.cpp runs: llama/qwen2 metadata, tensor names, the
Q/K row order llama.cpp's interleaved RoPE expects, the tokenizer and the chat template.
`run_export_gguf(GGUFConfig)` is the operation behind `lmforge export gguf` and the
`export_gguf` stage."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal

import gguf
import numpy as np
import torch
from pydantic import ConfigDict, Field
from tqdm import tqdm

from lmforge.errors import UserError
from lmforge.files import temp_path
from lmforge.export.gguf_vocab import add_tokenizer
from lmforge.model.config import ModelConfig
from lmforge.model.finite import check_finite
from lmforge.model.folder import ModelFolder
from lmforge.model.io import load_config, read_weights
from lmforge.model.rope import llama3_rope_factors
from lmforge.tokenizer.core import Tokenizer

OutType = Literal["f32", "f16", "q8_0"]
FILE_TYPES = {"f32": gguf.LlamaFileType.ALL_F32, "f16": gguf.LlamaFileType.MOSTLY_F16,
              "q8_0": gguf.LlamaFileType.MOSTLY_Q8_0}
# HF name inside model.layers.N -> llama.cpp name inside blk.N
LAYER_NAMES = {
    "input_layernorm.weight": "attn_norm.weight",
    "self_attn.q_proj.weight": "attn_q.weight", "self_attn.q_proj.bias": "attn_q.bias",
    "self_attn.k_proj.weight": "attn_k.weight", "self_attn.k_proj.bias": "attn_k.bias",
    "self_attn.v_proj.weight": "attn_v.weight", "self_attn.v_proj.bias": "attn_v.bias",
    "self_attn.o_proj.weight": "attn_output.weight",
    "self_attn.q_norm.weight": "attn_q_norm.weight", "self_attn.k_norm.weight": "attn_k_norm.weight",
    "post_attention_layernorm.weight": "ffn_norm.weight",
    "mlp.gate_proj.weight": "ffn_gate.weight", "mlp.up_proj.weight": "ffn_up.weight",
    "mlp.down_proj.weight": "ffn_down.weight",
}
TOP_NAMES = {"model.embed_tokens.weight": "token_embd.weight", "model.norm.weight": "output_norm.weight",
             "lm_head.weight": "output.weight"}


class GGUFConfig(ModelFolder):
    """`model` (an lmforge/transformers Llama or Qwen2 folder) as one GGUF file `out`."""

    model_config = ConfigDict(extra="forbid")
    out: str = Field(description="the .gguf file to write")
    type: OutType = Field("f16", description="weight type of the matrices (norms and biases stay f32)")


def gguf_arch(cfg: ModelConfig) -> str:
    """llama.cpp architecture for a config, or a UserError naming what it can't express.
    A sliding window (Mistral) is not written: llama.cpp's converter runs such models with full
    attention too, which is the same within the window."""
    if cfg.deepnorm or cfg.num_local_experts or cfg.hidden_act != "silu" or (cfg.qk_norm and cfg.qkv_bias):
        raise UserError("GGUF export supports dense SwiGLU pre-norm models (llama/qwen2/qwen3 shapes); "
                        f"this config has deepnorm={cfg.deepnorm}, num_local_experts="
                        f"{cfg.num_local_experts}, hidden_act={cfg.hidden_act!r}, "
                        f"qkv_bias={cfg.qkv_bias} with qk_norm={cfg.qk_norm}")
    if cfg.rope_scaling is not None and cfg.rope_scaling.rope_type == "dynamic":
        raise UserError("GGUF export: llama.cpp has no dynamic-NTK RoPE; export a linear or yarn "
                        "scaled model, or set rope_scaling to null")
    return "qwen3" if cfg.qk_norm else "qwen2" if cfg.qkv_bias else "llama"


def _add_rope_scaling(w: gguf.GGUFWriter, cfg: ModelConfig) -> None:
    """The keys llama.cpp's converter writes: linear/yarn as rope.scaling.*; llama3 instead
    ships per-frequency divisors as the `rope_freqs.weight` tensor (see export_gguf)."""
    rs = cfg.rope_scaling
    if rs is None or rs.rope_type == "llama3":
        return
    w.add_rope_scaling_type(gguf.RopeScalingType.LINEAR if rs.rope_type == "linear" else gguf.RopeScalingType.YARN)
    w.add_rope_scaling_factor(rs.factor)
    if rs.rope_type == "yarn":
        w.add_rope_scaling_orig_ctx_len(cfg.original_context)
        optional = ((rs.attention_factor, w.add_rope_scaling_yarn_attn_factor),
                    (rs.beta_fast, w.add_rope_scaling_yarn_beta_fast),
                    (rs.beta_slow, w.add_rope_scaling_yarn_beta_slow))
        for value, add in optional:
            if value is not None:
                add(value)


def permute_qk(w: torch.Tensor, n_head: int) -> torch.Tensor:
    """Rotate-half (HF) row order -> llama.cpp's interleaved pairs, per head (rows or bias)."""
    return w.reshape(n_head, 2, w.shape[0] // n_head // 2, *w.shape[1:]).transpose(1, 2).reshape(w.shape)


def unpermute_qk(w: torch.Tensor, n_head: int) -> torch.Tensor:
    """Inverse of `permute_qk` (for checks: a GGUF's Q/K back to our layout)."""
    return w.reshape(n_head, w.shape[0] // n_head // 2, 2, *w.shape[1:]).transpose(1, 2).reshape(w.shape)


def gguf_name(hf_name: str) -> str:
    if hf_name in TOP_NAMES:
        return TOP_NAMES[hf_name]
    parts = hf_name.split(".")
    if parts[:2] == ["model", "layers"] and ".".join(parts[3:]) in LAYER_NAMES:
        return f"blk.{parts[2]}.{LAYER_NAMES['.'.join(parts[3:])]}"
    raise UserError(f"tensor {hf_name!r} has no llama.cpp name")


def _add_metadata(w: gguf.GGUFWriter, cfg: ModelConfig, out_type: OutType, name: str) -> None:
    w.add_name(name)
    w.add_context_length(cfg.max_position_embeddings)
    w.add_embedding_length(cfg.hidden_size)
    w.add_block_count(cfg.num_hidden_layers)
    w.add_feed_forward_length(cfg.intermediate_size)
    w.add_head_count(cfg.num_attention_heads)
    w.add_head_count_kv(cfg.kv_heads)
    w.add_rope_dimension_count(cfg.head_size)
    w.add_key_length(cfg.head_size)
    w.add_value_length(cfg.head_size)
    w.add_rope_freq_base(cfg.rope_theta)
    _add_rope_scaling(w, cfg)
    w.add_layer_norm_rms_eps(cfg.rms_norm_eps)
    w.add_vocab_size(cfg.vocab_size)
    w.add_file_type(FILE_TYPES[out_type])


def _tensor(w: gguf.GGUFWriter, name: str, t: torch.Tensor, out_type: OutType) -> None:
    data = t.float().numpy()
    if data.ndim == 1 or out_type == "f32":  # norms and biases stay f32, as llama.cpp expects
        w.add_tensor(name, data.astype(np.float32))
    elif out_type == "q8_0" and data.shape[-1] % gguf.GGML_QUANT_SIZES[gguf.GGMLQuantizationType.Q8_0][0] == 0:
        q = gguf.quants.quantize(data, gguf.GGMLQuantizationType.Q8_0)
        w.add_tensor(name, q, raw_dtype=gguf.GGMLQuantizationType.Q8_0)
    else:
        w.add_tensor(name, data.astype(np.float16))


def export_gguf(model_dir: str | Path, out: str | Path, out_type: OutType = "f16") -> Path:
    """Write `model_dir` (an lmforge/transformers Llama or Qwen2 folder) to the GGUF file `out`."""
    if out_type not in FILE_TYPES:
        raise UserError(f"unknown GGUF type {out_type!r}; types: {', '.join(FILE_TYPES)}")
    model_dir, out = Path(model_dir), Path(out)
    cfg = load_config(model_dir)
    arch = gguf_arch(cfg)
    tok = Tokenizer.from_dir(model_dir)
    tensors = read_weights(model_dir)
    check_finite(tensors.items(), model_dir)
    if cfg.tie_word_embeddings or "lm_head.weight" not in tensors:
        tensors.pop("lm_head.weight", None)  # llama.cpp reuses token_embd when output is absent
    tmp = temp_path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    writer = gguf.GGUFWriter(str(tmp), arch)
    try:
        _add_metadata(writer, cfg, out_type, model_dir.name)
        add_tokenizer(writer, model_dir, tok, cfg.vocab_size)
        if cfg.rope_scaling is not None and cfg.rope_scaling.rope_type == "llama3":
            writer.add_tensor("rope_freqs.weight", llama3_rope_factors(cfg).numpy())
        for hf_name, t in tqdm(sorted(tensors.items()), desc="gguf tensors", mininterval=2.0):
            if "rotary_emb" in hf_name:
                continue
            if arch == "llama" and ".q_proj." in hf_name:
                t = permute_qk(t, cfg.num_attention_heads)
            elif arch == "llama" and ".k_proj." in hf_name:
                t = permute_qk(t, cfg.kv_heads)
            _tensor(writer, gguf_name(hf_name), t, out_type)
        writer.write_header_to_file()
        writer.write_kv_data_to_file()
        writer.write_tensors_to_file(progress=False)
        writer.close()
        os.replace(tmp, out)
    finally:
        if tmp.exists():
            tmp.unlink()
    return out


def run_export_gguf(cfg: GGUFConfig) -> Path:
    """`lmforge export gguf`: the written file."""
    return export_gguf(cfg.model, cfg.out, cfg.type)
