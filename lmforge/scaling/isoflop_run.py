"""`run_isoflop(IsoFLOPConfig)`: Chinchilla approach 2 end to end, and its test on a run it did not
see. Sweep IsoFLOP profiles at the fit budgets, fit N_opt(C) and L_opt(C) (isoflop.py), pick the
depth nearest the predicted N_opt at the held-out (largest) budget, predict its loss, train it,
and report the prediction's error next to a naive guess (the best loss seen at the largest fitted
budget), which a law must beat to be worth anything.
"""

from __future__ import annotations

import csv
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, field_validator

from lmforge.errors import UserError
from lmforge.files import atomic_write_json
from lmforge.model.flops import param_count
from lmforge.scaling.isoflop import IsoFLOPFit, fit_isoflop, group_by_budget
from lmforge.scaling.plots import plot_isoflop
from lmforge.scaling.sweep import (Runner, isoflop_points, non_embedding_params, number_list, point_config,
                                   point_shape, sweep_points, sweep_settings)


class IsoFLOPConfig(BaseModel):
    """IsoFLOP profiles at `flops`, the law fitted on them, and a held-out run at `holdout_flops`."""

    model_config = ConfigDict(extra="forbid")
    base: str | None = Field(None, description="`lmforge pretrain` YAML (model.preset, data, train)")
    pretrain: dict[str, Any] = Field(default_factory=dict, description="pretrain settings over the base file")
    depths: list[int] = Field(min_length=3, description="candidate depths (width = aspect x depth)")
    flops: list[float] = Field(min_length=2, description="the fitted budgets (training FLOPs), e.g. 6e10,1.2e11")
    holdout_flops: float = Field(gt=0, description="the held-out budget: one run at the predicted N_opt")
    aspect: int = Field(64, gt=0, description="width per layer of depth")
    head_dim: int = Field(64, gt=0, description="attention head width")
    steps: int | None = Field(None, gt=0, description="optimizer steps of every point, its batch (rows) set by "
                              "the budget (default: the base batch; steps from the budget)")
    min_steps: int = Field(12, gt=0, description="leave out points with fewer optimizer steps")
    max_steps: int | None = Field(None, gt=0, description="leave out points with more optimizer steps")
    size: Literal["N_total", "N"] = Field("N_total", description="the size axis: all parameters "
                                          "(Chinchilla) or non-embedding ones (Kaplan)")
    bootstrap: int = Field(200, ge=0, description="residual-bootstrap refits for the intervals")
    out: str = Field(description="folder: sweep/, holdout/, isoflop.json, isoflop.png")

    _split = field_validator("depths", mode="before")(number_list)

    @field_validator("flops", mode="before")
    @classmethod
    def _floats(cls, value: Any) -> Any:
        return [float(v) for v in value.split(",")] if isinstance(value, str) else value


@dataclass
class HeldOut:
    """The held-out run: its size, its predicted and measured loss."""

    depth: int
    N: float
    flops: float
    predicted: float
    interval: tuple[float, float]
    observed: float
    error: float  # (predicted - observed) / observed
    naive: float  # best loss at the largest fitted budget
    naive_error: float


@dataclass
class IsoFLOPResult:
    fit: IsoFLOPFit
    held_out: HeldOut
    json: Path
    plot: Path


def read_rows(csv_path: Path, size: str) -> dict[str, np.ndarray]:
    """The size column, FLOPs and final validation loss of a sweep CSV."""
    with csv_path.open(newline="") as f:
        rows = list(csv.DictReader(f))
    if not rows:
        raise UserError(f"{csv_path}: no finished runs")
    return {"N": np.array([float(r[size]) for r in rows]), "C": np.array([float(r["FLOPs"]) for r in rows]),
            "loss": np.array([float(r["loss"]) for r in rows]), "depth": np.array([int(r["depth"]) for r in rows])}


def _size_of(cfg: IsoFLOPConfig, settings: dict[str, Any], depth: int) -> float:
    """A depth's size on the fit's axis."""
    shape = point_shape(point_config(settings, depth, 10**12, Path("."), cfg.aspect, cfg.head_dim))
    return float(param_count(shape) if cfg.size == "N_total" else non_embedding_params(shape))


def _holdout(cfg: IsoFLOPConfig, settings: dict[str, Any], fit: IsoFLOPFit, pts: dict[str, np.ndarray],
             runner: Runner | None) -> HeldOut:
    target = fit.n_opt(cfg.holdout_flops)
    sizes = {d: _size_of(cfg, settings, d) for d in cfg.depths}
    depth = min(sizes, key=lambda d: abs(np.log(sizes[d] / target)))
    n = sizes[depth]
    point = isoflop_points(settings, [depth], [cfg.holdout_flops], cfg.aspect, cfg.head_dim, steps=cfg.steps)
    if not point:
        raise UserError(f"the held-out depth {depth} needs under one batch row at {cfg.holdout_flops:.3g} FLOPs "
                        f"in {cfg.steps} steps: fewer steps, or a larger holdout_flops")
    row = read_rows(sweep_points(settings, point, Path(cfg.out) / "holdout", cfg.aspect, cfg.head_dim, runner),
                    cfg.size)
    flops, observed = float(row["C"][0]), float(row["loss"][0])
    predicted = fit.predict(flops, n)
    last = group_by_budget(pts["C"], cfg.flops) == int(np.argmax(cfg.flops))
    naive = float(pts["loss"][last].min())
    return HeldOut(depth, n, flops, predicted, fit.predict_interval(flops, n), observed,
                   (predicted - observed) / observed, naive, (naive - observed) / observed)


def run_isoflop(cfg: IsoFLOPConfig, runner: Runner | None = None) -> IsoFLOPResult:
    """Sweep, fit, predict and train the held-out run; writes isoflop.json and isoflop.png."""
    if cfg.holdout_flops <= max(cfg.flops):
        raise UserError(f"holdout_flops {cfg.holdout_flops:.3g} must be above every fitted budget "
                        f"(largest {max(cfg.flops):.3g}): the test is an extrapolation")
    settings = sweep_settings(cfg.base, cfg.pretrain)
    points = isoflop_points(settings, cfg.depths, cfg.flops, cfg.aspect, cfg.head_dim, cfg.min_steps,
                            cfg.max_steps, cfg.steps)
    pts = read_rows(sweep_points(settings, points, Path(cfg.out) / "sweep", cfg.aspect, cfg.head_dim, runner),
                    cfg.size)
    fit = fit_isoflop(pts["N"], pts["C"], pts["loss"], cfg.flops, bootstrap=cfg.bootstrap)
    held = _holdout(cfg, settings, fit, pts, runner)
    out = Path(cfg.out)
    path = atomic_write_json(out / "isoflop.json", {
        "fit": {k: v for k, v in asdict(fit).items() if k != "bootstrap"}, "bootstrap_refits": len(fit.bootstrap),
        "held_out": asdict(held), "size_axis": cfg.size})
    return IsoFLOPResult(fit, held, path, plot_isoflop(fit, held, out / "isoflop.png", cfg.size))
