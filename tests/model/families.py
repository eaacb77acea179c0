"""Stand-ins of the base models a team starts from: each family's real config.json, shrunk.

`REAL_CONFIGS` holds the config.json of Llama-2-7B, Mistral-7B-v0.1, Llama-3.1-8B, Qwen2.5-7B and
Qwen3-8B as published on the Hugging Face Hub (values as shipped, keys as shipped, v4 form:
top-level `rope_theta`, `rope_scaling` as a dict or null). `tiny_config` keeps each family's
structure (rope scaling, q/k/v bias, q/k norm, explicit head_dim, the kv-head ratio, tied or untied
embeddings, sliding window, rope theta, special ids) at widths a CPU test runs in milliseconds.
`write_standin` makes a folder with that config.json and random weights from transformers' own
model class, so the tensor names and shapes are the real layout.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

_LLAMA2_7B: dict[str, Any] = {
    "architectures": ["LlamaForCausalLM"],
    "bos_token_id": 1,
    "eos_token_id": 2,
    "hidden_act": "silu",
    "hidden_size": 4096,
    "initializer_range": 0.02,
    "intermediate_size": 11008,
    "max_position_embeddings": 4096,
    "model_type": "llama",
    "num_attention_heads": 32,
    "num_hidden_layers": 32,
    "num_key_value_heads": 32,
    "pretraining_tp": 1,
    "rms_norm_eps": 1e-05,
    "rope_scaling": None,
    "tie_word_embeddings": False,
    "torch_dtype": "float16",
    "transformers_version": "4.31.0.dev0",
    "use_cache": True,
    "vocab_size": 32000,
}

_MISTRAL_7B_V01: dict[str, Any] = {
    "architectures": ["MistralForCausalLM"],
    "bos_token_id": 1,
    "eos_token_id": 2,
    "hidden_act": "silu",
    "hidden_size": 4096,
    "initializer_range": 0.02,
    "intermediate_size": 14336,
    "max_position_embeddings": 32768,
    "model_type": "mistral",
    "num_attention_heads": 32,
    "num_hidden_layers": 32,
    "num_key_value_heads": 8,
    "rms_norm_eps": 1e-05,
    "rope_theta": 10000.0,
    "sliding_window": 4096,
    "tie_word_embeddings": False,
    "torch_dtype": "bfloat16",
    "transformers_version": "4.34.0.dev0",
    "use_cache": True,
    "vocab_size": 32000,
}

_LLAMA31_8B: dict[str, Any] = {
    "architectures": ["LlamaForCausalLM"],
    "attention_bias": False,
    "attention_dropout": 0.0,
    "bos_token_id": 128000,
    "eos_token_id": 128001,
    "hidden_act": "silu",
    "hidden_size": 4096,
    "initializer_range": 0.02,
    "intermediate_size": 14336,
    "max_position_embeddings": 131072,
    "mlp_bias": False,
    "model_type": "llama",
    "num_attention_heads": 32,
    "num_hidden_layers": 32,
    "num_key_value_heads": 8,
    "pretraining_tp": 1,
    "rms_norm_eps": 1e-05,
    "rope_scaling": {
        "factor": 8.0,
        "low_freq_factor": 1.0,
        "high_freq_factor": 4.0,
        "original_max_position_embeddings": 8192,
        "rope_type": "llama3",
    },
    "rope_theta": 500000.0,
    "tie_word_embeddings": False,
    "torch_dtype": "bfloat16",
    "transformers_version": "4.43.0.dev0",
    "use_cache": True,
    "vocab_size": 128256,
}

_QWEN25_7B: dict[str, Any] = {
    "architectures": ["Qwen2ForCausalLM"],
    "attention_dropout": 0.0,
    "bos_token_id": 151643,
    "eos_token_id": 151643,
    "hidden_act": "silu",
    "hidden_size": 3584,
    "initializer_range": 0.02,
    "intermediate_size": 18944,
    "max_position_embeddings": 131072,
    "max_window_layers": 28,
    "model_type": "qwen2",
    "num_attention_heads": 28,
    "num_hidden_layers": 28,
    "num_key_value_heads": 4,
    "rms_norm_eps": 1e-06,
    "rope_theta": 1000000.0,
    "sliding_window": 131072,
    "tie_word_embeddings": False,
    "torch_dtype": "bfloat16",
    "transformers_version": "4.43.1",
    "use_cache": True,
    "use_mrope": False,
    "use_sliding_window": False,
    "vocab_size": 152064,
}

_QWEN3_8B: dict[str, Any] = {
    "architectures": ["Qwen3ForCausalLM"],
    "attention_bias": False,
    "attention_dropout": 0.0,
    "bos_token_id": 151643,
    "eos_token_id": 151645,
    "head_dim": 128,
    "hidden_act": "silu",
    "hidden_size": 4096,
    "initializer_range": 0.02,
    "intermediate_size": 12288,
    "max_position_embeddings": 40960,
    "max_window_layers": 36,
    "model_type": "qwen3",
    "num_attention_heads": 32,
    "num_hidden_layers": 36,
    "num_key_value_heads": 8,
    "rms_norm_eps": 1e-06,
    "rope_scaling": None,
    "rope_theta": 1000000,
    "sliding_window": None,
    "tie_word_embeddings": False,
    "torch_dtype": "bfloat16",
    "transformers_version": "4.51.0",
    "use_cache": True,
    "use_sliding_window": False,
    "vocab_size": 151936,
}

REAL_CONFIGS: dict[str, dict[str, Any]] = {
    "llama2": _LLAMA2_7B,
    "mistral": _MISTRAL_7B_V01,
    "llama3": _LLAMA31_8B,
    "qwen2.5": _QWEN25_7B,
    "qwen3": _QWEN3_8B,
}

# The Hub repository each config comes from (for messages and docs).
REPOS: dict[str, str] = {
    "llama2": "meta-llama/Llama-2-7b-hf",
    "mistral": "mistralai/Mistral-7B-v0.1",
    "llama3": "meta-llama/Llama-3.1-8B",
    "qwen2.5": "Qwen/Qwen2.5-7B",
    "qwen3": "Qwen/Qwen3-8B",
}

TINY_KV_HEADS = 2  # kv heads of a tiny grouped-query stand-in (4 heads when there is no grouping)
TINY_HEAD_DIM = 16
TINY_LAYERS = 4
TINY_VOCAB = 512


def real_config(family: str) -> dict[str, Any]:
    """A copy of the family's real config.json (a KeyError lists the families)."""
    if family not in REAL_CONFIGS:
        raise KeyError(f"unknown family {family!r}; families: {', '.join(REAL_CONFIGS)}")
    return copy.deepcopy(REAL_CONFIGS[family])


def tiny_config(family: str, **overrides: Any) -> dict[str, Any]:
    """The real config.json at tiny widths, same structure.

    Kept as is: model_type, architectures, rope_theta, rope_scaling, max_position_embeddings,
    sliding_window, rms_norm_eps, bias/tying flags and every other key. Shrunk: the layer count,
    the vocabulary (special ids above it move to its top), the widths, keeping the ratio of
    query to kv heads and the ratio of the MLP to the hidden width. An explicit `head_dim` stays
    explicit and differs from hidden_size / num_attention_heads (as in the smaller Qwen3 sizes),
    so a reader that derives it instead of reading it fails.
    """
    d = real_config(family)
    group = d["num_attention_heads"] // (d.get("num_key_value_heads") or d["num_attention_heads"])
    heads = group * TINY_KV_HEADS if group > 1 else 4
    hidden = heads * TINY_HEAD_DIM
    mlp_ratio = d["intermediate_size"] / d["hidden_size"]
    d.update(num_hidden_layers=TINY_LAYERS, num_attention_heads=heads,
             num_key_value_heads=heads // group, hidden_size=hidden,
             intermediate_size=int(round(hidden * mlp_ratio / 8)) * 8, vocab_size=TINY_VOCAB)
    if "head_dim" in d:
        d["head_dim"] = 2 * TINY_HEAD_DIM
    if "max_window_layers" in d:
        d["max_window_layers"] = TINY_LAYERS
    for key in ("bos_token_id", "eos_token_id"):
        if isinstance(d.get(key), int) and d[key] >= TINY_VOCAB:
            d[key] = TINY_VOCAB - 1 - (key == "bos_token_id")
    d.update(overrides)
    return d


def _randomize(model) -> None:
    """Random values where transformers' init leaves constants (norm weights ones, biases zeros),
    so a stand-in exercises the norm scales and the q/k/v biases; q and k projections large
    enough that attention is sharp, so a wrong rotary frequency shows in the logits."""
    import torch

    gen = torch.Generator().manual_seed(1234)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name.endswith(("q_proj.weight", "k_proj.weight")):
                p.copy_(0.25 * torch.randn(p.shape, generator=gen))
            elif name.endswith("norm.weight"):
                p.copy_(1.0 + 0.1 * torch.randn(p.shape, generator=gen))
            elif name.endswith(".bias"):
                p.copy_(0.1 * torch.randn(p.shape, generator=gen))


def transformers_model(config: dict[str, Any], seed: int = 0):
    """transformers' own model class for a config.json dict, randomly initialised (fp32)."""
    import torch
    import transformers

    cfg = transformers.AutoConfig.for_model(**config)
    torch.manual_seed(seed)
    model = transformers.AutoModelForCausalLM.from_config(cfg, dtype=torch.float32)
    _randomize(model)
    return model.eval()


def write_standin(family: str, folder: str | Path, tiny: bool = True, seed: int = 0,
                  **overrides: Any) -> Path:
    """A stand-in folder for `family`: config.json exactly as the (tiny) dict, plus weights.

    tiny=True: random fp32 safetensors written by transformers' model class (the real tensor
    names, shapes and tying). tiny=False: the real config.json alone, no weights (a dry run or
    a memory estimate reads only the shapes; 7B of random weights is not a test fixture).
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    config = tiny_config(family, **overrides) if tiny else {**real_config(family), **overrides}
    if tiny:
        transformers_model(config, seed).save_pretrained(folder, safe_serialization=True)
    (folder / "config.json").write_text(json.dumps(config, indent=2) + "\n")
    return folder
