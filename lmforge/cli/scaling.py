"""`lmforge scaling sweep|fit|plan`: small runs -> fitted law -> the big run's N, D and loss."""

from __future__ import annotations

import argparse
from pathlib import Path

from lmforge.cli.derive import Verb, add_group
from lmforge.model.flops import human
from lmforge.scaling.fitting import FitConfig, FitResult, run_fit
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


SWEEP = Verb(SweepConfig, run_sweep, show=_show_sweep, positional=("base",),
             help="train a grid of depths x token budgets (resumable)")
FIT = Verb(FitConfig, run_fit, show=_show_fit, positional=("csv",),
           outputs={"out": "file", "plot": "file"},
           help="fit the Chinchilla or compute-only law to a results CSV")
PLAN = Verb(PlanConfig, run_plan, show=_show_plan,
            help="compute-optimal N*, D* and predicted loss for a budget")


def register(sub: argparse._SubParsersAction) -> None:
    add_group(sub, "scaling", 'scaling laws: sweep small models, fit, plan the big run',
              {"sweep": SWEEP, "fit": FIT, "plan": PLAN})
