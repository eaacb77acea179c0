"""SOLAR depth up-scaling (Kim et al. 2023): two copies of an n-layer model, the first without
its last m layers and the second without its first m, stacked into 2(n - m) layers.

It is the passthrough merge `[model, 0..n-m] + [model, m..n]`; `drop=0` is the plain 2n repeat.
"""

from __future__ import annotations

from pathlib import Path

from lmforge.grow.slices import Slice, save_stacked
from lmforge.model.io import load_config


def dus_slices(model_dir: str | Path, n_layers: int, drop: int) -> list[Slice]:
    if not 0 <= drop < n_layers / 2:
        raise ValueError(f"--drop {drop}: must be in 0..{(n_layers - 1) // 2} for a {n_layers}-layer "
                         f"model (dropping n/2 or more leaves copies that do not overlap)")
    m = str(model_dir)
    return [Slice(model=m, layer_range=(0, n_layers - drop)),
            Slice(model=m, layer_range=(drop, n_layers))]


def drop_for_target(n_layers: int, target_layers: int) -> int:
    """m such that 2(n - m) == target; target must be even and in (n, 2n]."""
    if target_layers % 2 or not n_layers < target_layers <= 2 * n_layers:
        raise ValueError(f"--target-layers {target_layers}: must be even and in "
                         f"{n_layers + 1}..{2 * n_layers} for a {n_layers}-layer model")
    return n_layers - target_layers // 2


def dus_layers(n_layers: int, drop: int | None = None, target_layers: int | None = None) -> tuple[int, int]:
    """(m, layers after growth) for an n-layer base: the one place of the 2(n - m) arithmetic."""
    if (drop is None) == (target_layers is None):
        raise ValueError("give exactly one of --drop or --target-layers")
    m = drop_for_target(n_layers, target_layers) if drop is None else drop
    return m, 2 * (n_layers - m)


def depth_upscale(model_dir: str | Path, out: str | Path, drop: int | None = None,
                  target_layers: int | None = None) -> Path:
    """`lmforge grow dus`: write the depth up-scaled copy of `model_dir` to `out`."""
    n = load_config(model_dir).num_hidden_layers
    drop, layers = dus_layers(n, drop, target_layers)
    slices = dus_slices(model_dir, n, drop)
    return save_stacked(slices, out, "lmforge grow dus",
                        {"method": "dus", "base_layers": n, "drop": drop, "layers": layers,
                         "slices": [s.model_dump() for s in slices]})
