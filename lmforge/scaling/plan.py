"""Compute-optimal model size and token count from a fitted law, before paying for the run."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from lmforge.scaling.fit import ScalingLaw

# Dense bf16 tensor-core peak FLOP/s (no sparsity). H100/H200: SXM; A100: SXM/PCIe;
# RTX 4090: with FP16 accumulate (GeForce halves it with FP32 accumulate).
GPU_PEAK_BF16 = {"h100": 989e12, "h200": 989e12, "a100": 312e12, "l4": 121e12, "4090": 165.2e12}


def gpu_flops(gpu: str, count: int, hours: float, mfu: float) -> float:
    """Training FLOPs a cluster delivers: count x hours x peak x model-FLOPs utilisation."""
    key = gpu.lower().removeprefix("rtx").strip("-_ ")
    if key not in GPU_PEAK_BF16:
        raise ValueError(f"unknown GPU {gpu!r}; known: {', '.join(GPU_PEAK_BF16)}")
    if count <= 0 or hours <= 0 or not 0 < mfu <= 1:
        raise ValueError(f"need count > 0, hours > 0 and 0 < mfu <= 1; got {count}, {hours}, {mfu}")
    return count * hours * 3600 * GPU_PEAK_BF16[key] * mfu


def preset_size(name: str) -> tuple[float, float]:
    """A preset's parameter count and training FLOPs per token."""
    from lmforge.model import preset
    from lmforge.model.flops import flops_per_token, param_count

    cfg = preset(name)
    return float(param_count(cfg)), float(flops_per_token(cfg))


def optimal_allocation(params: dict[str, float], flops: float | np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """N*, D* minimising E + A/N^alpha + B/D^beta subject to 6ND = C (Hoffmann et al. eq. 4):
    N* = G (C/6)^a, D* = (C/6)^b / G, G = (alpha A / (beta B))^(1/(alpha+beta)),
    a = beta/(alpha+beta), b = alpha/(alpha+beta)."""
    A, B, al, be = params["A"], params["B"], params["alpha"], params["beta"]
    G = (al * A / (be * B)) ** (1 / (al + be))
    c6 = np.asarray(flops, float) / 6
    return G * c6 ** (be / (al + be)), c6 ** (al / (al + be)) / G


@dataclass
class Plan:
    flops: float
    n_opt: float
    d_opt: float
    loss: float
    loss_interval: tuple[float, float]
    n_interval: tuple[float, float]
    d_interval: tuple[float, float]
    source: str


def _interval(values: list[float], level: float) -> tuple[float, float]:
    q = (1 - level) / 2
    return float(np.quantile(values, q)), float(np.quantile(values, 1 - q))


def plan(law: ScalingLaw, flops: float, level: float = 0.9) -> Plan:
    """The compute-optimal (N*, D*) for `flops` and its predicted loss, with bootstrap intervals."""
    if law.form != "chinchilla":
        raise ValueError("planning N and D needs a Chinchilla (N, D) fit, not the compute-only form")
    if flops <= 0:
        raise ValueError(f"FLOPs budget must be positive, got {flops}")
    n, d = (float(v) for v in optimal_allocation(law.params, flops))
    loss = float(law.predict(n, d))
    samples = law.bootstrap or [law.params]
    alloc = [tuple(float(v) for v in optimal_allocation(p, flops)) for p in samples]
    # Loss interval at the planned (N*, D*): the uncertainty of what we will actually train.
    losses = [float(ScalingLaw("chinchilla", p).predict(n, d)) for p in samples]
    return Plan(flops, n, d, loss, _interval(losses, level), _interval([a[0] for a in alloc], level),
                _interval([a[1] for a in alloc], level), law.source)
