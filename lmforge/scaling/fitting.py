"""`run_fit(FitConfig)`: a sweep's results CSV -> the fitted law (JSON) and its plot (PNG), the
operation behind `lmforge scaling fit`. The maths is in fit.py, the figure in plots.py."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from lmforge.scaling.fit import ScalingLaw, fit_chinchilla, fit_compute, read_points
from lmforge.scaling.plots import plot_fit


class FitConfig(BaseModel):
    """Fit the Chinchilla L(N, D) or the compute-only L(C) law to (N, D, loss) points."""

    model_config = ConfigDict(extra="forbid")
    csv: str = Field(description="CSV with columns N, D and the loss (FLOPs optional)")
    form: Literal["chinchilla", "compute"] = Field("chinchilla", description="L(N, D) or L(C)")
    loss_column: str = Field("loss", description="the loss column, e.g. best_val_loss")
    bootstrap: int = Field(100, ge=0, description="resamples for the confidence intervals")
    out: str | None = Field(None, description="fit JSON (default: CSV.FORM.json next to the CSV)")
    plot: str | None = Field(None, description="PNG (default: CSV.FORM.png next to the CSV)")


@dataclass
class FitResult:
    law: ScalingLaw
    json: Path
    plot: Path


def run_fit(cfg: FitConfig) -> FitResult:
    pts = read_points(cfg.csv, loss_column=cfg.loss_column)
    if cfg.form == "chinchilla":
        law = fit_chinchilla(pts["N"], pts["D"], pts["loss"], bootstrap=cfg.bootstrap)
    else:
        law = fit_compute(pts["C"], pts["loss"], bootstrap=cfg.bootstrap)
    stem = Path(cfg.csv).with_suffix("")
    out = law.save(cfg.out or f"{stem}.{cfg.form}.json")
    return FitResult(law, out, plot_fit(pts, law, cfg.plot or f"{stem}.{cfg.form}.png"))
