"""SOLAR depth up-scaling (Kim et al. 2023): two copies of an n-layer model, the first without
its last m layers and the second without its first m, stacked into 2(n - m) layers.

It is the passthrough merge `[model, 0..n-m] + [model, m..n]`; `drop=0` is the plain 2n repeat.
`run_dus(DUSConfig)` is the operation behind `lmforge grow dus` and the `grow_dus` stage.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import ConfigDict, Field, model_validator

from lmforge.errors import UserError
from lmforge.grow.slices import Slice, save_stacked
from lmforge.model.folder import ModelFolder
from lmforge.model.io import load_config


class DUSConfig(ModelFolder):
    """Depth up-scaling of `model` into `out`: give `drop` (m) or `target_layers` (2(n - m))."""

    model_config = ConfigDict(extra="forbid")
    out: str = Field(description="the grown model folder")
    drop: int | None = Field(None, ge=0, description="m: layers dropped from each copy (0 = repeat all 2n)")
    target_layers: int | None = Field(None, gt=0, description="... or the layers wanted, 2(n - m); m is derived")

    @model_validator(mode="after")
    def _one(self) -> "DUSConfig":
        if (self.drop is None) == (self.target_layers is None):
            raise UserError("give exactly one of `drop` or `target_layers`")
        return self


def dus_slices(model_dir: str | Path, n_layers: int, drop: int) -> list[Slice]:
    """The two overlapping copies; `drop` as checked by `dus_layers`."""
    m = str(model_dir)
    return [Slice(model=m, layer_range=(0, n_layers - drop)),
            Slice(model=m, layer_range=(drop, n_layers))]


def drop_for_target(n_layers: int, target_layers: int) -> int:
    """m such that 2(n - m) == target; target must be even and in (n, 2n]."""
    if target_layers % 2 or not n_layers < target_layers <= 2 * n_layers:
        raise UserError(f"--target-layers {target_layers}: must be even and in "
                        f"{n_layers + 1}..{2 * n_layers} for a {n_layers}-layer model")
    return n_layers - target_layers // 2


def dus_layers(n_layers: int, drop: int | None = None, target_layers: int | None = None) -> tuple[int, int]:
    """(m, layers after growth) for an n-layer base: the one place of the 2(n - m) arithmetic.
    Raises a UserError for a drop or target this base cannot take."""
    if (drop is None) == (target_layers is None):
        raise UserError("give exactly one of --drop or --target-layers")
    m = drop_for_target(n_layers, target_layers) if drop is None else drop
    if not 0 <= m < n_layers / 2:
        raise UserError(f"--drop {m}: must be in 0..{(n_layers - 1) // 2} for a {n_layers}-layer "
                        f"model (dropping n/2 or more leaves copies that do not overlap)")
    return m, 2 * (n_layers - m)


def depth_upscale(model_dir: str | Path, out: str | Path, drop: int | None = None,
                  target_layers: int | None = None) -> Path:
    """Write the depth up-scaled copy of `model_dir` to `out`."""
    n = load_config(model_dir).num_hidden_layers
    drop, layers = dus_layers(n, drop, target_layers)
    slices = dus_slices(model_dir, n, drop)
    return save_stacked(slices, out, "lmforge grow dus",
                        {"method": "dus", "base_layers": n, "drop": drop, "layers": layers,
                         "slices": [s.model_dump() for s in slices]})


def run_dus(cfg: DUSConfig) -> Path:
    """`lmforge grow dus`: the grown folder."""
    return depth_upscale(cfg.model, cfg.out, cfg.drop, cfg.target_layers)
