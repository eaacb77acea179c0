"""Compute-optimal model size and token count from a fitted law, before paying for the run."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, model_validator

from lmforge.errors import UserError
from lmforge.model.config import preset
from lmforge.model.flops import PEAK_FLOPS, flops_per_token, param_count, peak_flops
from lmforge.scaling.fit import ScalingLaw, default_law


class PlanConfig(BaseModel):
    """A compute budget (`flops`, or `gpu` x `count` for `hours` or `days` at `mfu`) and,
    optionally, a model size to predict the loss at."""

    model_config = ConfigDict(extra="forbid")
    flops: float | None = Field(None, gt=0, description="training FLOPs budget")
    gpu: str | None = Field(None, description="... or a GPU: " + ", ".join(PEAK_FLOPS))
    count: int = Field(1, gt=0, description="number of GPUs")
    hours: float | None = Field(None, gt=0, description="wall-clock hours on them ...")
    days: float | None = Field(None, gt=0, description="... or days")
    mfu: float = Field(0.4, gt=0, le=1, description="model FLOPs utilisation")
    fit: str | None = Field(None, description="fit JSON (default: Besiroglu et al. 2024 law)")
    params: float | None = Field(None, gt=0, description="also predict the loss at this N ...")
    preset: str | None = Field(None, description="... or at this preset's size (and FLOPs/token)")
    tokens: float | None = Field(None, gt=0, description="... trained on this many tokens (default: the budget's)")
    level: float = Field(0.9, gt=0, lt=1, description="interval level")

    @model_validator(mode="after")
    def _budget(self) -> "PlanConfig":
        if self.flops is None and not self.gpu:
            raise UserError("give `flops`, or `gpu` with `count`, `hours` or `days`, and `mfu`")
        if self.flops is None and (self.hours is None) == (self.days is None):
            raise UserError("with `gpu` give exactly one of `hours` or `days` (--hours or --days)")
        if self.params and self.preset:
            raise UserError("give `params` or `preset`, not both")
        return self

    def budget(self) -> float:
        if self.flops is not None:
            return self.flops
        hours = self.hours if self.hours is not None else self.days * 24
        return gpu_flops(self.gpu, self.count, hours, self.mfu)


def gpu_flops(gpu: str, count: int, hours: float, mfu: float) -> float:
    """Training FLOPs a cluster delivers: count x hours x peak x model-FLOPs utilisation."""
    peak = peak_flops(gpu)
    if peak is None:
        raise UserError(f"unknown GPU {gpu!r}; known: {', '.join(PEAK_FLOPS)}")
    if count <= 0 or hours <= 0 or not 0 < mfu <= 1:
        raise UserError(f"need count > 0, hours > 0 and 0 < mfu <= 1; got {count}, {hours}, {mfu}")
    return count * hours * 3600 * peak * mfu


def preset_size(name: str) -> tuple[float, float]:
    """A preset's parameter count and training FLOPs per token."""
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
        raise UserError("planning N and D needs a Chinchilla (N, D) fit, not the compute-only form")
    if flops <= 0:
        raise UserError(f"FLOPs budget must be positive, got {flops}")
    n, d = (float(v) for v in optimal_allocation(law.params, flops))
    loss = float(law.predict(n, d))
    samples = law.bootstrap or [law.params]
    alloc = [tuple(float(v) for v in optimal_allocation(p, flops)) for p in samples]
    # Loss interval at the planned (N*, D*): the uncertainty of what we will actually train.
    losses = [float(ScalingLaw("chinchilla", p).predict(n, d)) for p in samples]
    return Plan(flops, n, d, loss, _interval(losses, level), _interval([a[0] for a in alloc], level),
                _interval([a[1] for a in alloc], level), law.source)


@dataclass
class Prediction:
    """The law's loss for a given size and token count."""

    label: str  # the preset's name, or "N=..."
    n: float
    d: float
    flops: float
    loss: float
    interval: tuple[float, float]


@dataclass
class PlanResult:
    law: ScalingLaw
    plan: Plan
    at: Prediction | None


def predict_at(law: ScalingLaw, cfg: PlanConfig, flops: float) -> Prediction | None:
    """The loss at the config's `preset` or `params` (on `tokens`, else the budget's tokens)."""
    if cfg.preset:
        n, fpt = preset_size(cfg.preset)
    elif cfg.params:
        n, fpt = cfg.params, 6 * cfg.params
    else:
        return None
    d = cfg.tokens or flops / fpt
    return Prediction(cfg.preset or f"N={n:.3g}", n, d, fpt * d, float(law.predict(n, d)),
                      law.predict_interval(n, d, level=cfg.level))


def run_plan(cfg: PlanConfig) -> PlanResult:
    """`lmforge scaling plan`: the compute-optimal N*, D*, predicted loss, and the loss at a size."""
    law = ScalingLaw.load(cfg.fit) if cfg.fit else default_law()
    flops = cfg.budget()
    return PlanResult(law, plan(law, flops, cfg.level), predict_at(law, cfg, flops))
