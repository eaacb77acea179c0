"""IsoFLOP profiles (Hoffmann et al. 2022, approach 2): for each compute budget C, train several
model sizes on C / (FLOPs per token) tokens each, fit a parabola of loss against log N, and take
its vertex as the compute-optimal size N_opt(C) and loss L_opt(C); then fit the power laws
N_opt = G C^a and L_opt = K C^-b across budgets.

Unlike the parametric L(N, D) fit (fit.py), nothing here has a bound: a profile is well posed
when its parabola opens upwards and its vertex lies inside the sizes trained (`problems` says
which is not). A run at an unseen size and budget is predicted as
L_opt(C) + k (log N - log N_opt(C))^2, with k the mean curvature of the fitted profiles.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Sequence

import numpy as np

from lmforge.errors import UserError


@dataclass
class Profile:
    """One budget's parabola loss = k (log N - log N_opt)^2 + L_opt, fitted to its points."""

    flops: float
    N: list[float]
    loss: list[float]
    k: float
    n_opt: float
    l_opt: float

    def problem(self) -> str | None:
        """Why the vertex is not a minimum inside the sizes trained (None when it is)."""
        if self.k <= 0:
            return f"C={self.flops:.3g}: the profile does not curve upwards (k={self.k:.3g})"
        if not min(self.N) <= self.n_opt <= max(self.N):
            return (f"C={self.flops:.3g}: the minimum N={self.n_opt:.3g} lies outside the sizes trained "
                    f"[{min(self.N):.3g}, {max(self.N):.3g}]")
        return None


@dataclass
class IsoFLOPFit:
    """The profiles and the power laws across them (exponents with bootstrap intervals)."""

    profiles: list[Profile]
    a: float  # N_opt = G C^a
    log_g: float
    b: float  # L_opt = K C^-b
    log_k: float
    curvature: float  # mean k of the profiles
    ci: dict[str, tuple[float, float]] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)
    bootstrap: list[dict[str, float]] = field(default_factory=list)  # refits' a, log_g, b, log_k, curvature

    def n_opt(self, flops: float) -> float:
        return float(np.exp(self.log_g + self.a * np.log(flops)))

    def l_opt(self, flops: float) -> float:
        return float(np.exp(self.log_k - self.b * np.log(flops)))

    def predict(self, flops: float, n: float) -> float:
        """Loss of a model of n parameters trained with `flops` (on its profile's parabola)."""
        return _predict(self.law(), flops, n)

    def law(self) -> dict[str, float]:
        return {"a": self.a, "log_g": self.log_g, "b": self.b, "log_k": self.log_k, "curvature": self.curvature}

    def predict_interval(self, flops: float, n: float, level: float = 0.95) -> tuple[float, float]:
        """Percentile interval of the prediction over the bootstrap refits (the point twice if none)."""
        preds = [_predict(s, flops, n) for s in self.bootstrap] or [self.predict(flops, n)]
        return _span(preds, level)

    def optimum_interval(self, flops: float, level: float = 0.95) -> tuple[tuple[float, float], tuple[float, float]]:
        """Percentile intervals of N_opt(C) and L_opt(C) over the bootstrap refits (the point twice if none)."""
        laws = self.bootstrap or [self.law()]
        log_c = np.log(flops)
        n = [np.exp(s["log_g"] + s["a"] * log_c) for s in laws]
        return _span(n, level), _span([np.exp(s["log_k"] - s["b"] * log_c) for s in laws], level)


def _span(values: Sequence[float], level: float) -> tuple[float, float]:
    q = (1 - level) / 2
    return float(np.quantile(values, q)), float(np.quantile(values, 1 - q))


def infer_budgets(flops: Sequence[float], gap: float = 1.25) -> list[float]:
    """Nominal budgets of points whose FLOPs scatter around them (a sweep rounds each point's
    batch): sorted FLOPs split where one is over `gap` times the one before; each group's geometric mean."""
    c = np.sort(np.asarray(flops, float))
    groups = np.split(c, np.nonzero(c[1:] / c[:-1] > gap)[0] + 1)
    return [float(np.exp(np.log(g).mean())) for g in groups]


def group_by_budget(flops: Sequence[float], budgets: Sequence[float]) -> np.ndarray:
    """Index of the nominal budget (nearest in log) each point was trained at."""
    logs = np.log(np.asarray(budgets, float))
    return np.abs(np.log(np.asarray(flops, float))[:, None] - logs[None, :]).argmin(axis=1)


def fit_profile(flops: float, N: Sequence[float], loss: Sequence[float]) -> Profile:
    """Least-squares parabola of loss against log N (needs three sizes or more)."""
    N, L = np.asarray(N, float), np.asarray(loss, float)
    if len(np.unique(N)) < 3:
        raise UserError(f"IsoFLOP budget {flops:.3g}: need 3 or more model sizes, got {len(np.unique(N))}")
    k, lin, c = np.polyfit(np.log(N), L, 2)
    if k <= 0:  # no minimum: the best size trained stands in for it (and `problem` says so)
        best = int(np.argmin(L))
        return Profile(float(flops), N.tolist(), L.tolist(), float(k), float(N[best]), float(L[best]))
    # a vertex far outside the sizes is flagged by `problem`; clipped so that it stays a number
    x0 = float(np.clip(-lin / (2 * k), np.log(N).min() - 10, np.log(N).max() + 10))
    return Profile(float(flops), N.tolist(), L.tolist(), float(k), float(np.exp(x0)),
                   float(np.polyval([k, lin, c], x0)))


def _predict(law: dict[str, float], flops: float, n: float) -> float:
    log_c = np.log(flops)
    log_n_opt = law["log_g"] + law["a"] * log_c
    return float(np.exp(law["log_k"] - law["b"] * log_c) + law["curvature"] * (np.log(n) - log_n_opt) ** 2)


def _laws(profiles: list[Profile]) -> dict[str, float]:
    c = np.log([p.flops for p in profiles])
    a, log_g = np.polyfit(c, np.log([p.n_opt for p in profiles]), 1)
    slope, log_k = np.polyfit(c, np.log([p.l_opt for p in profiles]), 1)
    return {"a": float(a), "log_g": float(log_g), "b": float(-slope), "log_k": float(log_k),
            "curvature": float(np.mean([p.k for p in profiles]))}


def fit_isoflop(N: Sequence[float], flops: Sequence[float], loss: Sequence[float], budgets: Sequence[float],
                bootstrap: int = 200, seed: int = 0, level: float = 0.95) -> IsoFLOPFit:
    """Profiles per nominal budget, then N_opt(C) and L_opt(C); bootstrap resamples points within
    each budget (resamples with a degenerate profile are dropped) for the exponents' intervals."""
    N, C, L = (np.asarray(v, float) for v in (N, flops, loss))
    if len(budgets) < 2:
        raise UserError(f"IsoFLOP: need 2 or more budgets to fit how N_opt grows with C, got {len(budgets)}")
    group = group_by_budget(C, budgets)
    profiles = [fit_profile(b, N[group == i], L[group == i]) for i, b in enumerate(budgets)]
    fit = IsoFLOPFit(profiles, **_laws(profiles), problems=[p for p in (q.problem() for q in profiles) if p])
    if bootstrap:
        fit.bootstrap = _bootstrap(N, L, group, budgets, bootstrap, seed)
        q = (1 - level) / 2
        fit.ci = {k: (float(np.quantile([s[k] for s in fit.bootstrap], q)),
                      float(np.quantile([s[k] for s in fit.bootstrap], 1 - q)))
                  for k in ("a", "b")} if fit.bootstrap else {}
    return fit


def _bootstrap(N, L, group, budgets, rounds: int, seed: int) -> list[dict[str, float]]:
    """Refits on each profile's fitted losses plus residuals resampled from all profiles (pooled,
    scaled by sqrt(n / (n - 3 per profile)): a profile has too few points to resample its own).
    Refits whose profile is not an inside minimum are dropped."""
    rng = np.random.default_rng(seed)
    fitted, n_budgets = np.empty_like(L), len(budgets)
    for i, budget in enumerate(budgets):
        m = group == i
        p = fit_profile(budget, N[m], L[m])
        fitted[m] = p.k * (np.log(N[m]) - np.log(p.n_opt)) ** 2 + p.l_opt
    resid = (L - fitted) * np.sqrt(len(L) / max(1, len(L) - 3 * n_budgets))
    samples = []
    for _ in range(rounds):
        y = fitted + rng.choice(resid, size=len(L))
        profiles = [fit_profile(b, N[group == i], y[group == i]) for i, b in enumerate(budgets)]
        if not any(q.problem() for q in profiles):
            samples.append(_laws(profiles))
    return samples
