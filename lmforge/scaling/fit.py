"""Fit scaling laws to (N, D, loss) points.

Chinchilla form L(N, D) = E + A/N^alpha + B/D^beta, fitted as Hoffmann et al. (2022) approach 3:
parameters (a, b, e, alpha, beta) with A = exp(a), B = exp(b), E = exp(e), so that
log L = logsumexp(a - alpha log N, b - beta log D, e), minimising the SUM of Huber losses
(delta 1e-3) of log residuals with L-BFGS from a grid of starts. Besiroglu et al. (2024) showed
that averaging the Huber losses shrinks the gradient below L-BFGS's tolerance so the original
fit stopped early; summing (the default here) avoids that.

Compute-only form L(C) = E + a * C^(-b) (MindLLM), fitted the same way in log space.
"""

from __future__ import annotations

import csv
import itertools
import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Literal, Sequence

import numpy as np
from scipy.optimize import minimize
from scipy.special import huber

from lmforge.errors import UserError
from lmforge.files import read_json

CHINCHILLA_PARAMS = ("E", "A", "B", "alpha", "beta")
COMPUTE_PARAMS = ("E", "a", "b")

# Besiroglu et al. 2024 refit of Chinchilla's data: the default law when no fit file is given.
BESIROGLU_2024 = {"E": 1.82, "A": 482.0, "B": 2085.4, "alpha": 0.348, "beta": 0.366}
# Their 80% confidence intervals (Table 1), used to sample the default law's uncertainty.
BESIROGLU_2024_CI80 = {"E": (1.79, 1.83), "A": (124.58, 617.26), "B": (1293.23, 2484.67),
                       "alpha": (0.2899, 0.3600), "beta": (0.3336, 0.3704)}
HOFFMANN_2022 = {"E": 1.69, "A": 406.4, "B": 410.7, "alpha": 0.34, "beta": 0.28}

# Hoffmann et al.'s initialisation grid (alpha, beta in 0..2, e in -1..1.5, a, b in 0..25).
# Tolerances far below scipy's defaults: Huber residuals under delta give tiny gradients, and the
# defaults stop L-BFGS well before the optimum (the early stop Besiroglu et al. found).
LBFGS_OPTIONS = {"ftol": 1e-15, "gtol": 1e-12, "maxiter": 5000}
# Bounds only exclude degenerate optima of small sweeps (a step-like A/N^300, E above every
# observed loss); published laws sit far inside them.
_LOG_COEF, _EXPONENT = (-20.0, 60.0), (0.0, 2.0)
_GRID = {
    "a": np.arange(0, 30, 5.0), "b": np.arange(0, 30, 5.0), "e": np.arange(-1, 1.5, 0.5),
    "alpha": np.arange(0, 2.5, 0.5), "beta": np.arange(0, 2.5, 0.5),
}


@dataclass
class ScalingLaw:
    """A fitted (or published) law; `ci` maps each parameter to its (low, high) interval."""

    form: Literal["chinchilla", "compute"]
    params: dict[str, float]
    ci: dict[str, tuple[float, float]] = field(default_factory=dict)
    bootstrap: list[dict[str, float]] = field(default_factory=list)
    n_points: int = 0
    objective: float = 0.0
    source: str = "fit"

    def predict(self, N: float | np.ndarray = 0.0, D: float | np.ndarray = 0.0,
                C: float | np.ndarray | None = None) -> np.ndarray:
        """Loss at (N, D) for the Chinchilla form, or at compute C (default 6ND) for the compute form."""
        return _predict(self.form, self.params, N, D, C)

    def predict_interval(self, N: float = 0.0, D: float = 0.0, C: float | None = None,
                         level: float = 0.9) -> tuple[float, float]:
        """Percentile interval of the prediction over bootstrap refits (point value twice if none)."""
        if not self.bootstrap:
            p = float(self.predict(N, D, C))
            return p, p
        preds = [float(_predict(self.form, b, N, D, C)) for b in self.bootstrap]
        q = (1 - level) / 2
        return float(np.quantile(preds, q)), float(np.quantile(preds, 1 - q))

    def at_bounds(self) -> list[str]:
        """Parameters the optimiser pinned to a bound: the points do not determine them."""
        lo_e, hi_x = np.exp(-10.0) * 1.01, _EXPONENT[1] * 0.995
        return [k for k, v in self.params.items()
                if (k == "E" and v <= lo_e) or (k in ("alpha", "beta", "b") and (v >= hi_x or v <= 1e-4))]

    def save(self, path: str | Path) -> Path:
        path = Path(path)
        tmp = path.with_suffix(path.suffix + ".tmp")
        tmp.write_text(json.dumps(asdict(self), indent=2))
        tmp.replace(path)
        return path

    @classmethod
    def load(cls, path: str | Path) -> "ScalingLaw":
        path = Path(path)
        if not path.is_file():
            raise UserError(f"fit file {path} not found (write one with `lmforge scaling fit`)")
        data = read_json(path, "fit file")
        try:
            data["ci"] = {k: tuple(v) for k, v in data.get("ci", {}).items()}
            return cls(**data)
        except (TypeError, AttributeError) as e:
            raise UserError(f"{path}: not a fit file of `lmforge scaling fit` ({e})") from None


def default_law(samples: int = 400, seed: int = 0) -> ScalingLaw:
    """Besiroglu et al.'s law; its samples treat the published 80% intervals as independent
    normals (the covariance is not published), so prediction intervals are conservative."""
    rng = np.random.default_rng(seed)
    z80 = 1.2816
    draws = {k: rng.normal(BESIROGLU_2024[k], (hi - lo) / (2 * z80), samples)
             for k, (lo, hi) in BESIROGLU_2024_CI80.items()}
    boot = [{k: float(max(v[i], 1e-6)) for k, v in draws.items()} for i in range(samples)]
    return ScalingLaw("chinchilla", dict(BESIROGLU_2024), ci=dict(BESIROGLU_2024_CI80), bootstrap=boot,
                      source="default: Besiroglu et al. 2024 refit of Chinchilla (no fit file given)")


def _predict(form: str, p: dict[str, float], N, D, C) -> np.ndarray:
    if form == "chinchilla":
        N, D = np.asarray(N, float), np.asarray(D, float)
        return p["E"] + p["A"] / N ** p["alpha"] + p["B"] / D ** p["beta"]
    C = 6.0 * np.asarray(N, float) * np.asarray(D, float) if C is None else np.asarray(C, float)
    return p["E"] + p["a"] * C ** (-p["b"])


def read_points(path: str | Path, loss_column: str = "loss") -> dict[str, np.ndarray]:
    """N, D, loss (and C = FLOPs if present, else 6ND) from a sweep CSV, with clear errors."""
    required = ("N", "D", loss_column)
    path = Path(path)
    if not path.is_file():
        raise UserError(f"results file {path} not found")
    with path.open(newline="") as f:
        reader = csv.DictReader(f)
        missing = [c for c in required if c not in (reader.fieldnames or [])]
        if missing:
            raise UserError(f"{path}: missing column(s) {missing}; header is {reader.fieldnames} "
                            f"(need {list(required)})")
        rows = list(reader)
    if not rows:
        raise UserError(f"{path}: no result rows under the header (a sweep writes one per point)")
    cols: dict[str, list[float]] = {k: [] for k in ("N", "D", "loss", "C")}
    for i, row in enumerate(rows, start=2):
        try:
            vals = {"N": float(row["N"]), "D": float(row["D"]), "loss": float(row[loss_column])}
            c = float(row["FLOPs"]) if row.get("FLOPs") else 6 * vals["N"] * vals["D"]
        except ValueError as e:
            raise UserError(f"{path}:{i}: not a number ({e})") from None
        for k, v in vals.items():
            cols[k].append(v)
        cols["C"].append(c)
    return {k: np.asarray(v, float) for k, v in cols.items()}


def _check(n_params: int, loss: np.ndarray, *positive: np.ndarray) -> None:
    if len(loss) <= n_params:
        raise UserError(f"need more points than the {n_params} parameters to fit; got {len(loss)}")
    for name, arr in (("loss", loss),) + tuple(("N/D/C", a) for a in positive):
        bad = np.flatnonzero(~(np.isfinite(arr) & (arr > 0)))
        if len(bad):
            raise UserError(f"{name} must be positive and finite; bad value {arr[bad[0]]} at point {bad[0]}")


def _chinchilla_objective(x: np.ndarray, logN, logD, logL, delta: float, reduce: str):
    a, b, e, alpha, beta = x
    tn, td = a - alpha * logN, b - beta * logD
    pred = np.logaddexp(np.logaddexp(tn, td), e)
    r = pred - logL
    loss = huber(delta, r)
    # d huber / d r, then the chain rule through logsumexp (softmax weights).
    dr = np.clip(r, -delta, delta)
    wn, wd, we = dr * np.exp(tn - pred), dr * np.exp(td - pred), dr * np.exp(e - pred)
    grad = np.array([wn.sum(), wd.sum(), we.sum(), -(wn * logN).sum(), -(wd * logD).sum()])
    if reduce == "mean":
        return loss.mean(), grad / len(r)
    return loss.sum(), grad


def _fit_chinchilla_once(logN, logD, logL, delta, reduce, starts, options) -> tuple[np.ndarray, float]:
    best_x, best_f = None, np.inf
    for x0 in starts:
        res = minimize(_chinchilla_objective, np.asarray(x0, float), jac=True, method="L-BFGS-B",
                       args=(logN, logD, logL, delta, reduce), options=options,
                       bounds=[_LOG_COEF, _LOG_COEF, (-10.0, logL.min()), _EXPONENT, _EXPONENT])
        if res.fun < best_f:
            best_x, best_f = res.x, float(res.fun)
    return best_x, best_f


def _grid_starts(logN, logD, logL, keep: int = 4) -> list[tuple[float, ...]]:
    """The grid points with the lowest objective: every start is cheap to score, L-BFGS is not."""
    grid = np.array(list(itertools.product(*_GRID.values())))
    a, b, e, alpha, beta = (grid[:, i:i + 1] for i in range(5))
    pred = np.logaddexp(np.logaddexp(a - alpha * logN, b - beta * logD), e)
    score = huber(1e-3, pred - logL).sum(axis=1)
    return [tuple(g) for g in grid[np.argsort(score)[:keep]]]


def fit_chinchilla(N: Sequence[float], D: Sequence[float], loss: Sequence[float], delta: float = 1e-3,
                   reduce: Literal["sum", "mean"] = "sum", bootstrap: int = 0, seed: int = 0,
                   level: float = 0.9, starts: list[tuple[float, ...]] | None = None,
                   options: dict | None = None) -> ScalingLaw:
    """Fit L(N, D) = E + A/N^alpha + B/D^beta; `bootstrap` resamples points for intervals.

    `reduce="mean"` with `options={}` (scipy's default tolerances) reproduces the original
    Chinchilla fit's early stop; it is kept for that comparison only.
    """
    options = LBFGS_OPTIONS if options is None else options
    N, D, L = (np.asarray(v, float) for v in (N, D, loss))
    _check(5, L, N, D)
    logN, logD, logL = np.log(N), np.log(D), np.log(L)
    starts = starts or _grid_starts(logN, logD, logL)
    x, f = _fit_chinchilla_once(logN, logD, logL, delta, reduce, starts, options)
    law = ScalingLaw("chinchilla", _chinchilla_params(x), n_points=len(L), objective=f)
    if bootstrap:
        rng = np.random.default_rng(seed)
        for _ in range(bootstrap):
            idx = rng.integers(0, len(L), len(L))
            # Start from the full fit rather than re-searching the grid.
            xb, _ = _fit_chinchilla_once(logN[idx], logD[idx], logL[idx], delta, reduce, [x], options)
            law.bootstrap.append(_chinchilla_params(xb))
        law.ci = _intervals(law.bootstrap, CHINCHILLA_PARAMS, level)
    return law


def _chinchilla_params(x: np.ndarray) -> dict[str, float]:
    a, b, e, alpha, beta = (float(v) for v in x)
    return {"E": float(np.exp(e)), "A": float(np.exp(a)), "B": float(np.exp(b)), "alpha": alpha, "beta": beta}


def _intervals(samples: list[dict[str, float]], names: Sequence[str], level: float):
    q = (1 - level) / 2
    return {k: (float(np.quantile([s[k] for s in samples], q)),
                float(np.quantile([s[k] for s in samples], 1 - q))) for k in names}


def _compute_objective(x, logC, logL, delta):
    la, b, e = x
    tc = la - b * logC
    pred = np.logaddexp(tc, e)
    r = pred - logL
    dr = np.clip(r, -delta, delta)
    wc, we = dr * np.exp(tc - pred), dr * np.exp(e - pred)
    return huber(delta, r).sum(), np.array([wc.sum(), -(wc * logC).sum(), we.sum()])


def fit_compute(C: Sequence[float], loss: Sequence[float], delta: float = 1e-3, bootstrap: int = 0,
                seed: int = 0, level: float = 0.9) -> ScalingLaw:
    """Fit L(C) = E + a * C^(-b) (MindLLM's compute-only law)."""
    C, L = np.asarray(C, float), np.asarray(loss, float)
    _check(3, L, C)
    logC, logL = np.log(C), np.log(L)
    grid = np.array(list(itertools.product(np.arange(0, 30, 2.5), np.arange(0.05, 1.0, 0.05),
                                           np.arange(-1, 1.5, 0.25))))
    score = [_compute_objective(g, logC, logL, delta)[0] for g in grid]
    starts = [tuple(g) for g in grid[np.argsort(score)[:4]]]

    def once(lc, ll, s):
        res = [minimize(_compute_objective, np.asarray(x0, float), jac=True, method="L-BFGS-B",
                        args=(lc, ll, delta), options=LBFGS_OPTIONS,
                        bounds=[_LOG_COEF, _EXPONENT, (-10.0, ll.min())]) for x0 in s]
        best = min(res, key=lambda r: r.fun)
        return best.x, float(best.fun)

    x, f = once(logC, logL, starts)
    to_params = lambda v: {"E": float(np.exp(v[2])), "a": float(np.exp(v[0])), "b": float(v[1])}  # noqa: E731
    law = ScalingLaw("compute", to_params(x), n_points=len(L), objective=f)
    if bootstrap:
        rng = np.random.default_rng(seed)
        for _ in range(bootstrap):
            idx = rng.integers(0, len(L), len(L))
            law.bootstrap.append(to_params(once(logC[idx], logL[idx], [x])[0]))
        law.ci = _intervals(law.bootstrap, COMPUTE_PARAMS, level)
    return law
