"""Scaling plots (PNG): loss vs FLOPs per model size with fitted curves and the compute-optimal
frontier, next to predicted vs observed loss."""

from __future__ import annotations

from pathlib import Path

import matplotlib
import numpy as np

from lmforge.report import save_figure
from lmforge.scaling.fit import ScalingLaw
from lmforge.scaling.plan import optimal_allocation

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402  (after choosing the file-only backend)


def plot_fit(points: dict[str, np.ndarray], law: ScalingLaw, out: str | Path,
             held_out: np.ndarray | None = None) -> Path:
    """Write the two-panel figure to `out`; `held_out` marks points the fit did not see."""
    N, D, L, C = points["N"], points["D"], points["loss"], points["C"]
    held = np.zeros(len(L), bool) if held_out is None else np.asarray(held_out, bool)
    fig, (ax, ax2) = plt.subplots(1, 2, figsize=(12, 5))
    sizes = np.unique(N)
    colors = plt.cm.viridis(np.linspace(0, 0.9, len(sizes)))
    c_grid = np.logspace(np.log10(C.min()) - 0.3, np.log10(C.max()) + 0.3, 100)
    for n, color in zip(sizes, colors):
        m = N == n
        ax.scatter(C[m], L[m], color=color, marker="^" if held[m].any() else "o",
                   label=f"N={n:.3g}" + (" (held out)" if held[m].any() else ""))
        if law.form == "chinchilla":
            # FLOPs per token of this size from the points themselves (covers attention terms).
            fpt = float(np.median(C[m] / D[m]))
            ax.plot(c_grid, law.predict(n, c_grid / fpt), color=color, lw=1)
    if law.form == "chinchilla":
        n_opt, d_opt = optimal_allocation(law.params, c_grid)
        ax.plot(c_grid, law.predict(n_opt, d_opt), "k--", lw=1.5, label="compute-optimal frontier")
    else:
        ax.plot(c_grid, law.predict(C=c_grid), "k--", lw=1.5, label="L(C) fit")
    ax.set(xscale="log", yscale="log", xlabel="training FLOPs", ylabel="validation loss",
           title=f"{law.form} law: " + ", ".join(f"{k}={v:.3g}" for k, v in law.params.items()))
    ax.legend(fontsize=8)

    pred = law.predict(N, D) if law.form == "chinchilla" else law.predict(C=C)
    ax2.scatter(L[~held], pred[~held], label="fitted points")
    if held.any():
        ax2.scatter(L[held], pred[held], marker="^", color="red", label="held out")
    lim = [min(L.min(), pred.min()) * 0.98, max(L.max(), pred.max()) * 1.02]
    ax2.plot(lim, lim, "k:", lw=1)
    ax2.set(xlabel="observed loss", ylabel="predicted loss", title="predicted vs observed", xlim=lim, ylim=lim)
    ax2.legend(fontsize=8)
    return save_figure(fig, out, dpi=110)


def plot_isoflop(fit, held, out: str | Path, size: str = "N_total") -> Path:
    """Left: each budget's loss against model size with its fitted parabola and minimum, and the
    held-out run (observed and predicted). Right: N_opt against FLOPs with the power law."""
    fig, (ax, ax2) = plt.subplots(1, 2, figsize=(12, 5))
    colors = plt.cm.viridis(np.linspace(0, 0.85, len(fit.profiles)))
    for p, color in zip(fit.profiles, colors):
        grid = np.logspace(np.log10(min(p.N)) - 0.15, np.log10(max(p.N)) + 0.15, 80)
        ax.scatter(p.N, p.loss, color=color, label=f"C={p.flops:.2g} FLOPs")
        ax.plot(grid, p.k * np.log(grid / p.n_opt) ** 2 + p.l_opt, color=color, lw=1)
        ax.plot([p.n_opt], [p.l_opt], "x", color=color, markersize=9)
    if held is not None:  # none when the profiles were fitted from a results file
        lo, hi = min(held.interval[0], held.predicted), max(held.interval[1], held.predicted)  # skewed bootstrap
        ax.errorbar([held.N], [held.predicted], yerr=[[held.predicted - lo], [hi - held.predicted]], fmt="s",
                    mfc="none", color="red", capsize=4, label=f"held out C={held.flops:.2g}: predicted (95%)")
        ax.scatter([held.N], [held.observed], marker="*", s=140, color="red",
                   label=f"held out: observed (error {100 * held.error:+.1f}%)")
    ax.set(xscale="log", xlabel=f"model size ({size}, parameters)", ylabel="final validation loss (nats/token)",
           title="IsoFLOP profiles (x: fitted minimum)")
    ax.legend(fontsize=8)
    c = np.array([p.flops for p in fit.profiles] + ([held.flops] if held is not None else []))
    grid = np.logspace(np.log10(c.min()) - 0.1, np.log10(c.max()) + 0.1, 50)
    ax2.scatter([p.flops for p in fit.profiles], [p.n_opt for p in fit.profiles], color="k", label="profile minima")
    ax2.plot(grid, [fit.n_opt(g) for g in grid], "k--", lw=1, label=f"N_opt ∝ C^{fit.a:.2f}")
    if held is not None:
        ax2.scatter([held.flops], [held.N], marker="*", s=140, color="red", label="held-out run's size")
    ax2.set(xscale="log", yscale="log", xlabel="training FLOPs", ylabel=f"compute-optimal size ({size})",
            title="compute-optimal size against compute")
    ax2.legend(fontsize=8)
    return save_figure(fig, out, dpi=110)

