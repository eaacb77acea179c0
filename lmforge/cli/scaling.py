"""`lmforge scaling sweep|fit|plan|isoflop`: small runs -> fitted law -> the big run's N, D and loss."""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from lmforge.cli.derive import Verb, add_group
from lmforge.model.flops import human
from lmforge.scaling.fitting import FitConfig, FitResult, run_fit
from lmforge.scaling.isoflop_run import IsoFLOPConfig, IsoFLOPResult, run_isoflop
from lmforge.scaling.plan import PlanConfig, PlanResult, run_plan
from lmforge.scaling.sweep import SweepConfig, run_sweep


def _show_sweep(path: Path, cfg: SweepConfig) -> None:
    print(f"results: {path}  (next: lmforge scaling fit {path})")


def _show_fit(r: FitResult, cfg: FitConfig) -> None:
    law = r.law
    print(f"{cfg.form} law fitted on {law.n_points} points (Huber objective {law.objective:.3g}):")
    for k, v in law.params.items():
        lo, hi = law.ci.get(k, (float("nan"), float("nan")))
        print(f"  {k:>6} = {v:.4g}   90% CI [{lo:.4g}, {hi:.4g}]")
    if law.at_bounds():
        print(f"warning: {', '.join(law.at_bounds())} hit the search bounds: these points do not pin "
              "the law down (add sizes/budgets, train past the early plateau)")
    print(f"fit: {r.json}\nplot: {r.plot}")


def _show_plan(r: PlanResult, cfg: PlanConfig) -> None:
    p, pct = r.plan, f"{cfg.level:.0%}"
    print(f"law: {r.law.source}")
    if not cfg.fit:
        print("  (intervals treat the published 80% parameter intervals as independent: conservative)")
    print("  " + ", ".join(f"{k}={v:.4g}" for k, v in r.law.params.items()))
    print(f"budget: {p.flops:.3e} FLOPs")
    print(f"N* (params)  = {human(p.n_opt)}   {pct} interval [{human(p.n_interval[0])}, {human(p.n_interval[1])}]")
    print(f"D* (tokens)  = {human(p.d_opt)}   {pct} interval [{human(p.d_interval[0])}, {human(p.d_interval[1])}]")
    print(f"tokens/param = {p.d_opt / p.n_opt:.1f}")
    print(f"predicted loss at (N*, D*) = {p.loss:.3f}   {pct} interval "
          f"[{p.loss_interval[0]:.3f}, {p.loss_interval[1]:.3f}]")
    if r.at is not None:
        a = r.at
        print(f"at N={human(a.n)}, D={human(a.d)} tokens ({a.flops:.3e} FLOPs): predicted loss "
              f"{a.loss:.3f}   {pct} interval [{a.interval[0]:.3f}, {a.interval[1]:.3f}]")


def _show_isoflop(r: IsoFLOPResult, cfg: IsoFLOPConfig) -> None:
    fit, pct = r.fit, f"{cfg.level:.0%}"
    print(f"IsoFLOP profiles (Chinchilla approach 2), size axis {cfg.size}:")
    for q in fit.profiles:
        print(f"  C={q.flops:.3g}: {len(q.N)} sizes, N_opt={human(q.n_opt)}, L_opt={q.l_opt:.4f}, "
              f"curvature k={q.k:.4g}" + (f"   <- {q.problem()}" if q.problem() else ""))
    ci = {k: f"   {pct} interval [{lo:.4g}, {hi:.4g}]" for k, (lo, hi) in fit.ci.items()}
    print(f"N_opt = G C^a:  G={np.exp(fit.log_g):.4g}, a={fit.a:.4f}{ci.get('a', '')}")
    print(f"L_opt = K C^-b: K={np.exp(fit.log_k):.4g}, b={fit.b:.4f}{ci.get('b', '')}")
    if fit.problems:
        print("warning: not every profile has its minimum inside the sizes trained (the law is an "
              "extrapolation there; the intervals leave those refits out)")
    if r.prediction is not None:
        p = r.prediction
        print(f"at C={p.flops:.3g} FLOPs: N_opt={human(p.n_opt)}   {pct} interval "
              f"[{human(p.n_interval[0])}, {human(p.n_interval[1])}] (D ~ C/6N = {human(p.flops / (6 * p.n_opt))} "
              f"tokens); L_opt={p.l_opt:.4f}   {pct} interval [{p.l_interval[0]:.4f}, {p.l_interval[1]:.4f}]")
    if r.held_out is not None:
        h = r.held_out
        print(f"held-out run (depth {h.depth}, {human(h.N)}, {h.flops:.3g} FLOPs): predicted {h.predicted:.4f} "
              f"[{h.interval[0]:.4f}, {h.interval[1]:.4f}], observed {h.observed:.4f} (error {100 * h.error:+.2f}%; "
              f"naive guess {h.naive:.4f}, error {100 * h.naive_error:+.2f}%)")
    print(f"fit: {r.json}\nplot: {r.plot}")


SWEEP = Verb(SweepConfig, run_sweep, show=_show_sweep, positional=("base",),
             help="train a grid of depths x token budgets (resumable)")
FIT = Verb(FitConfig, run_fit, show=_show_fit, positional=("csv",),
           outputs={"out": "file", "plot": "file"},
           help="fit the Chinchilla or compute-only law to a results CSV")
PLAN = Verb(PlanConfig, run_plan, show=_show_plan,
            help="compute-optimal N*, D* and predicted loss for a budget")
ISOFLOP = Verb(IsoFLOPConfig, run_isoflop, show=_show_isoflop, config_file=True,
               help="IsoFLOP profiles (Chinchilla approach 2) from a results CSV or a sweep: "
                    "N_opt = G C^a, L_opt = K C^-b, a prediction with intervals, a plot")


def register(sub: argparse._SubParsersAction) -> None:
    add_group(sub, "scaling", 'scaling laws: sweep small models, fit, plan the big run',
              {"sweep": SWEEP, "fit": FIT, "plan": PLAN, "isoflop": ISOFLOP})
