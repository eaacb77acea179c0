"""Parameter counts and training FLOPs per token, computed from shapes (no weights needed)."""

from __future__ import annotations

from lmforge.model.config import ModelConfig

# Dense bf16 tensor-core peak FLOP/s (no sparsity) by device-name fragment: the one table for MFU
# and for compute budgets. Longer fragments are matched first ("H100 PCIe" before "H100").
PEAK_FLOPS = {
    "B200": 2250e12, "GH200": 989e12, "H200": 989e12, "H100 PCIe": 756e12, "H100": 989e12,
    "H800": 989e12, "H20": 148e12, "A100": 312e12, "A800": 312e12, "L40S": 362e12, "L4": 121e12,
    "4090": 165.2e12, "MI300X": 1307e12,
}


def peak_flops(device_name: str) -> float | None:
    """Peak dense bf16 FLOP/s for a device name (e.g. torch.cuda.get_device_name()), or None."""
    for key in sorted(PEAK_FLOPS, key=len, reverse=True):
        if key.lower() in device_name.lower():
            return PEAK_FLOPS[key]
    return None


def _layer_params(cfg: ModelConfig, active: bool) -> tuple[int, int]:
    """(attention + norms, feed-forward) parameters of one layer."""
    h, hd = cfg.hidden_size, cfg.head_size
    q, kv = cfg.num_attention_heads * hd, cfg.kv_heads * hd
    attn = (h * q + 2 * h * kv + q * h + (q + 2 * kv if cfg.qkv_bias else 0) + 2 * h
            + (2 * hd if cfg.qk_norm else 0))  # Qwen3's per-head q/k norms
    mlp = 3 * h * cfg.intermediate_size
    if cfg.num_local_experts:
        experts = cfg.num_experts_per_tok if active else cfg.num_local_experts
        mlp = experts * mlp + h * cfg.num_local_experts  # experts + router
    return attn, mlp


def param_count(cfg: ModelConfig, active: bool = False) -> int:
    """All parameters (tied embeddings counted once); `active` counts only routed MoE experts."""
    attn, mlp = _layer_params(cfg, active)
    embed = cfg.vocab_size * cfg.hidden_size
    head = 0 if cfg.tie_word_embeddings else embed
    return embed + head + cfg.num_hidden_layers * (attn + mlp) + cfg.hidden_size


def flops_per_token(cfg: ModelConfig, seq_len: int | None = None) -> float:
    """Training FLOPs per token: 6 x (active non-embedding params + lm_head) + attention term.

    The attention term 12 * layers * (heads * head_dim) * seq_len counts the QK^T and AV
    matmuls forward and backward (Kaplan et al. 2020, PaLM appendix B).
    """
    seq = seq_len or cfg.max_position_embeddings
    attn, mlp = _layer_params(cfg, active=True)
    dense = cfg.num_hidden_layers * (attn + mlp) + cfg.vocab_size * cfg.hidden_size  # + lm_head
    attention = 12 * cfg.num_hidden_layers * cfg.num_attention_heads * cfg.head_size * seq
    return 6.0 * dense + attention


def describe(cfg: ModelConfig, seq_len: int | None = None) -> dict[str, float | int | str]:
    return {
        "architecture": cfg.architecture,
        "parameters": param_count(cfg),
        "active_parameters": param_count(cfg, active=True),
        "non_embedding_parameters": param_count(cfg) - cfg.vocab_size * cfg.hidden_size
        * (1 if cfg.tie_word_embeddings else 2),
        "train_flops_per_token": flops_per_token(cfg, seq_len),
        "seq_len": seq_len or cfg.max_position_embeddings,
    }


def human(n: float) -> str:
    for unit, div in (("T", 1e12), ("B", 1e9), ("M", 1e6), ("K", 1e3)):
        if abs(n) >= div:
            return f"{n / div:.2f}{unit}"
    return f"{n:.0f}"
