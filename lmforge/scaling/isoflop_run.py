"""`run_isoflop(IsoFLOPConfig)`: Chinchilla approach 2 end to end, and its test on a run it did not
see; the operation behind `lmforge scaling isoflop` and the `scaling_isoflop` recipe stage.
Sweep IsoFLOP profiles at the fit budgets (or read a finished sweep's results CSV), fit N_opt(C)
and L_opt(C) (isoflop.py), predict N_opt and L_opt at a budget with intervals, and, when asked,
pick the depth nearest the predicted N_opt at the held-out (largest) budget, predict its loss,
train it, and report the prediction's error next to a naive guess (the best loss seen at the
largest fitted budget), which a law must beat to be worth anything.
"""

from __future__ import annotations

import csv
import math
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, field_validator

from lmforge.errors import UserError
from lmforge.files import atomic_write_json
from lmforge.model.flops import param_count
from lmforge.scaling.isoflop import IsoFLOPFit, fit_isoflop, group_by_budget, infer_budgets
from lmforge.scaling.plots import plot_isoflop
from lmforge.scaling.sweep import (Runner, isoflop_points, non_embedding_params, number_list, point_config,
                                   point_shape, sweep_points, sweep_settings)


class IsoFLOPConfig(BaseModel):
    """IsoFLOP profiles at `flops` (trained, or read from `results`), the law fitted on them, its
    prediction at `predict_flops`, and a held-out run at `holdout_flops`."""

    model_config = ConfigDict(extra="forbid")
    results: str | None = Field(None, description="a finished sweep's results CSV (columns FLOPs, loss and "
                                "the size column): fit it and train nothing (base, pretrain, depths and "
                                "holdout_flops then unused)")
    base: str | None = Field(None, description="`lmforge pretrain` YAML (model.preset, data, train)")
    pretrain: dict[str, Any] = Field(default_factory=dict, description="pretrain settings over the base file")
    depths: list[int] = Field(default_factory=list, description="candidate depths, 3 or more (width = "
                              "aspect x depth); needed unless `results`")
    flops: list[float] = Field(default_factory=list, description="the fitted budgets (training FLOPs), e.g. "
                               "6e10,1.2e11; with `results` the default groups its FLOPs column")
    holdout_flops: float | None = Field(None, gt=0, description="the held-out budget: one run at the predicted "
                                        "N_opt, trained and compared (needed unless `results`)")
    predict_flops: float | None = Field(None, gt=0, description="a budget to predict N_opt and L_opt at, with "
                                        "intervals (default: holdout_flops)")
    level: float = Field(0.95, gt=0, lt=1, description="coverage of the bootstrap intervals")
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
class Prediction:
    """The law at one budget: compute-optimal size and loss with their bootstrap intervals."""

    flops: float
    n_opt: float
    n_interval: tuple[float, float]
    l_opt: float
    l_interval: tuple[float, float]
    level: float


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
    held_out: HeldOut | None  # None when fitted from `results`, or without holdout_flops
    prediction: Prediction | None  # at predict_flops (default holdout_flops)
    json: Path
    plot: Path


def _number(text: str | None, where: str, positive: bool) -> float:
    try:
        value = float(text)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        value = math.nan
    if not math.isfinite(value) or (positive and value <= 0):
        kind = "a positive number" if positive else "a finite number"
        raise UserError(f"{where}: expected {kind}, got {text!r}")
    return value


def read_rows(csv_path: str | Path, size: str) -> dict[str, np.ndarray]:
    """The size column, FLOPs and final validation loss of a sweep CSV; errors name file, line and column."""
    path = Path(csv_path)
    if not path.is_file():
        raise UserError(f"{path}: results file not found")
    with path.open(newline="", encoding="utf-8") as f:
        reader = csv.DictReader(f)
        columns = (size, "FLOPs", "loss")
        missing = [c for c in columns if c not in (reader.fieldnames or [])]
        if missing:
            raise UserError(f"{path}: missing column(s) {', '.join(missing)} (found: "
                            f"{', '.join(reader.fieldnames or []) or 'none'}; the size column is set by `size`)")
        rows = [(reader.line_num, r) for r in reader]
    if not rows:
        raise UserError(f"{path}: no finished runs")
    values = {c: np.array([_number(r[c], f"{path}:{line}: column {c}", c != "loss") for line, r in rows])
              for c in columns}
    return {"N": values[size], "C": values["FLOPs"], "loss": values["loss"]}


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
    return HeldOut(depth, n, flops, predicted, fit.predict_interval(flops, n, cfg.level), observed,
                   (predicted - observed) / observed, naive, (naive - observed) / observed)


def _check(cfg: IsoFLOPConfig) -> None:
    """The keys each mode needs, before any work."""
    if cfg.results is not None:
        if cfg.holdout_flops is not None:
            raise UserError("holdout_flops trains a run, and with `results` nothing is trained: "
                            "use predict_flops for a prediction only, or drop `results` to sweep")
        return
    if len(cfg.depths) < 3:
        raise UserError(f"depths: need 3 or more depths for a parabola, got {cfg.depths} (or give `results`)")
    if len(cfg.flops) < 2:
        raise UserError(f"flops: need 2 or more budgets, got {cfg.flops} (or give `results`)")
    if cfg.holdout_flops is None:
        raise UserError("holdout_flops: required when the profiles are trained (or give `results`)")
    if cfg.holdout_flops <= max(cfg.flops):
        raise UserError(f"holdout_flops {cfg.holdout_flops:.3g} must be above every fitted budget "
                        f"(largest {max(cfg.flops):.3g}): the test is an extrapolation")


def predict(fit: IsoFLOPFit, flops: float, level: float = 0.95) -> Prediction:
    """N_opt and L_opt at a budget, with percentile intervals over the bootstrap refits."""
    n_int, l_int = fit.optimum_interval(flops, level)
    return Prediction(flops, fit.n_opt(flops), n_int, fit.l_opt(flops), l_int, level)


def _from_results(cfg: IsoFLOPConfig) -> IsoFLOPFit:
    pts = read_rows(cfg.results, cfg.size)  # type: ignore[arg-type]
    budgets = cfg.flops or infer_budgets(pts["C"])
    return fit_isoflop(pts["N"], pts["C"], pts["loss"], budgets, bootstrap=cfg.bootstrap, level=cfg.level)


def _sweep(cfg: IsoFLOPConfig, runner: Runner | None) -> tuple[IsoFLOPFit, HeldOut]:
    settings = sweep_settings(cfg.base, cfg.pretrain)
    points = isoflop_points(settings, cfg.depths, cfg.flops, cfg.aspect, cfg.head_dim, cfg.min_steps,
                            cfg.max_steps, cfg.steps)
    pts = read_rows(sweep_points(settings, points, Path(cfg.out) / "sweep", cfg.aspect, cfg.head_dim, runner),
                    cfg.size)
    fit = fit_isoflop(pts["N"], pts["C"], pts["loss"], cfg.flops, bootstrap=cfg.bootstrap, level=cfg.level)
    return fit, _holdout(cfg, settings, fit, pts, runner)


def run_isoflop(cfg: IsoFLOPConfig, runner: Runner | None = None) -> IsoFLOPResult:
    """Fit the profiles (sweeping them and training the held-out run, or from `results`), predict
    at predict_flops; writes isoflop.json and isoflop.png in `out`."""
    _check(cfg)
    fit, held = (_from_results(cfg), None) if cfg.results is not None else _sweep(cfg, runner)
    at = cfg.predict_flops or cfg.holdout_flops
    pred = predict(fit, at, cfg.level) if at else None
    out = Path(cfg.out)
    path = atomic_write_json(out / "isoflop.json", {
        "fit": {k: v for k, v in asdict(fit).items() if k != "bootstrap"}, "bootstrap_refits": len(fit.bootstrap),
        "law": fit.law(), "prediction": asdict(pred) if pred else None,
        "held_out": asdict(held) if held else None, "size_axis": cfg.size, "results": cfg.results})
    return IsoFLOPResult(fit, held, pred, path, plot_isoflop(fit, held, out / "isoflop.png", cfg.size))
