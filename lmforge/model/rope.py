"""RoPE inverse frequencies with the scaling types transformers ships (same formulas, so a
scaled folder gives the same logits in both): linear, dynamic NTK, YaRN and Llama 3.

`inv_freq(cfg, seq_len)` gives the (head_dim / 2,) frequencies and the factor cos/sin are
multiplied by (YaRN's attention scaling; 1 for the others). Only dynamic NTK depends on
`seq_len` (the largest position + 1 of the batch).
"""

from __future__ import annotations

import math

import torch

from lmforge.model.config import ModelConfig, RopeScaling


def base_inv_freq(dim: int, theta: float) -> torch.Tensor:
    return 1.0 / (theta ** (torch.arange(0, dim, 2, dtype=torch.int64).float() / dim))


def _mscale(factor: float, m: float = 1.0) -> float:
    return 1.0 if factor <= 1 else 0.1 * m * math.log(factor) + 1.0


def yarn_attention_factor(rs: RopeScaling) -> float:
    if rs.attention_factor is not None:
        return rs.attention_factor
    if rs.mscale and rs.mscale_all_dim:
        return _mscale(rs.factor, rs.mscale) / _mscale(rs.factor, rs.mscale_all_dim)
    return _mscale(rs.factor)


def _yarn(dim: int, theta: float, rs: RopeScaling, original: int) -> torch.Tensor:
    """Per dimension: interpolate (divide by factor) where a wavelength exceeds the original
    context's beta_slow rotations, keep it where it makes beta_fast rotations, ramp between."""
    def correction_dim(rotations: float) -> float:
        return dim * math.log(original / (rotations * 2 * math.pi)) / (2 * math.log(theta))

    low, high = correction_dim(rs.beta_fast or 32), correction_dim(rs.beta_slow or 1)
    if rs.truncate is None or rs.truncate:
        low, high = math.floor(low), math.ceil(high)
    low, high = max(low, 0), min(high, dim - 1)
    if low == high:
        high += 0.001
    ramp = ((torch.arange(dim // 2, dtype=torch.float32) - low) / (high - low)).clamp(0, 1)
    keep = 1 - ramp
    extrapolated = base_inv_freq(dim, theta)
    return extrapolated / rs.factor * (1 - keep) + extrapolated * keep


def _llama3(dim: int, theta: float, rs: RopeScaling) -> torch.Tensor:
    """Long wavelengths divided by factor, short ones kept, a smooth blend between."""
    inv = base_inv_freq(dim, theta)
    orig, low_f, high_f = rs.original_max_position_embeddings, rs.low_freq_factor, rs.high_freq_factor
    wavelen = 2 * math.pi / inv
    scaled = torch.where(wavelen > orig / low_f, inv / rs.factor, inv)
    smooth = (orig / wavelen - low_f) / (high_f - low_f)
    blended = (1 - smooth) * scaled / rs.factor + smooth * scaled
    medium = (wavelen >= orig / high_f) & (wavelen <= orig / low_f)
    return torch.where(medium, blended, scaled)


def _dynamic(dim: int, theta: float, rs: RopeScaling, max_pos: int, seq_len: int | None) -> torch.Tensor:
    """NTK: the base grows once the sequence passes max_position_embeddings (as transformers)."""
    seq = max(seq_len or max_pos, max_pos)
    base = theta * ((rs.factor * seq / max_pos) - (rs.factor - 1)) ** (dim / (dim - 2))
    return base_inv_freq(dim, base)


def inv_freq(cfg: ModelConfig, seq_len: int | None = None) -> tuple[torch.Tensor, float]:
    """(inverse frequencies, cos/sin scale) for `cfg`'s head size, theta and rope scaling."""
    dim, theta, rs = cfg.head_size, cfg.rope_theta, cfg.rope_scaling
    if rs is None:
        return base_inv_freq(dim, theta), 1.0
    if rs.rope_type == "linear":
        return base_inv_freq(dim, theta) / rs.factor, 1.0
    if rs.rope_type == "dynamic":
        return _dynamic(dim, theta, rs, cfg.max_position_embeddings, seq_len), 1.0
    if rs.rope_type == "yarn":
        return _yarn(dim, theta, rs, cfg.original_context), yarn_attention_factor(rs)
    return _llama3(dim, theta, rs), 1.0


def llama3_rope_factors(cfg: ModelConfig) -> torch.Tensor:
    """What llama.cpp stores as `rope_freqs.weight`: the divisor of each base frequency."""
    return base_inv_freq(cfg.head_size, cfg.rope_theta) / inv_freq(cfg)[0]
