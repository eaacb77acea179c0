"""`lmforge scaling sweep|fit|plan`: small runs -> fitted law -> the big run's N, D and loss."""

from __future__ import annotations

import argparse
from pathlib import Path


def _ints(text: str) -> list[int]:
    try:
        return [int(float(t)) for t in text.split(",") if t.strip()]
    except ValueError:
        raise ValueError(f"expected comma-separated numbers, got {text!r}") from None


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("scaling", help="scaling laws: sweep small models, fit, plan the big run")
    verbs = p.add_subparsers(dest="scaling_command", metavar="VERB", required=True)

    s = verbs.add_parser("sweep", help="train a grid of depths x token budgets (resumable)")
    s.add_argument("config", help="base `lmforge pretrain` YAML (model.preset, data, train)")
    s.add_argument("overrides", nargs="*", metavar="KEY=VALUE")
    s.add_argument("--depths", required=True, help="e.g. 2,4,6,8 (width = aspect x depth)")
    s.add_argument("--tokens", required=True, help="token budgets, e.g. 1e6,2e6,4e6")
    s.add_argument("--aspect", type=int, default=64, help="width per layer of depth (default 64)")
    s.add_argument("--head-dim", type=int, default=64)
    s.add_argument("--out", required=True, help="sweep folder (results.csv, runs/)")
    s.set_defaults(func=cmd_sweep)

    f = verbs.add_parser("fit", help="fit the Chinchilla or compute-only law to a results CSV")
    f.add_argument("csv", help="CSV with columns N, D, loss (FLOPs optional)")
    f.add_argument("--form", choices=["chinchilla", "compute"], default="chinchilla")
    f.add_argument("--loss-column", default="loss", help="e.g. best_val_loss")
    f.add_argument("--bootstrap", type=int, default=100, help="resamples for confidence intervals")
    f.add_argument("--out", default=None, help="fit JSON (default: next to the CSV)")
    f.add_argument("--plot", default=None, help="PNG path (default: next to the CSV)")
    f.set_defaults(func=cmd_fit)

    q = verbs.add_parser("plan", help="compute-optimal N*, D* and predicted loss for a budget")
    q.add_argument("--fit", default=None, help="fit JSON (default: Besiroglu et al. 2024 law)")
    q.add_argument("--flops", type=float, default=None, help="training FLOPs budget")
    q.add_argument("--gpu", help="h100, h200, a100, l4, 4090")
    q.add_argument("--count", type=int, default=1)
    q.add_argument("--hours", type=float, default=None)
    q.add_argument("--days", type=float, default=None)
    q.add_argument("--mfu", type=float, default=0.4)
    q.add_argument("--params", type=float, default=None, help="also predict loss at this N ...")
    q.add_argument("--preset", default=None, help="... or at this preset's size (and FLOPs/token)")
    q.add_argument("--tokens", type=float, default=None, help="... trained on this many tokens")
    q.add_argument("--level", type=float, default=0.9, help="interval level (default 0.9)")
    q.set_defaults(func=cmd_plan)


def cmd_sweep(args: argparse.Namespace) -> None:
    from lmforge.config import apply_overrides, read_yaml
    from lmforge.scaling.sweep import run_sweep

    base = apply_overrides(read_yaml(args.config), args.overrides)
    if "preset" not in base.get("model", {}):
        raise ValueError(f"{args.config}: model.preset is required for a sweep (sizes come from --depths)")
    path = run_sweep(base, _ints(args.depths), _ints(args.tokens), args.out, args.aspect, args.head_dim)
    print(f"results: {path}  (next: lmforge scaling fit {path})")


def cmd_fit(args: argparse.Namespace) -> None:
    from lmforge.scaling.fit import fit_chinchilla, fit_compute, read_points
    from lmforge.scaling.plots import plot_fit

    pts = read_points(args.csv, loss_column=args.loss_column)
    if args.form == "chinchilla":
        law = fit_chinchilla(pts["N"], pts["D"], pts["loss"], bootstrap=args.bootstrap)
    else:
        law = fit_compute(pts["C"], pts["loss"], bootstrap=args.bootstrap)
    stem = Path(args.csv).with_suffix("")
    out = law.save(args.out or f"{stem}.{args.form}.json")
    png = plot_fit(pts, law, args.plot or f"{stem}.{args.form}.png")
    print(f"{args.form} law fitted on {law.n_points} points (Huber objective {law.objective:.3g}):")
    for k, v in law.params.items():
        lo, hi = law.ci.get(k, (float("nan"), float("nan")))
        print(f"  {k:>6} = {v:.4g}   90% CI [{lo:.4g}, {hi:.4g}]")
    if law.at_bounds():
        print(f"warning: {', '.join(law.at_bounds())} hit the search bounds: these points do not pin "
              "the law down (add sizes/budgets, train past the early plateau)")
    print(f"fit: {out}\nplot: {png}")


def cmd_plan(args: argparse.Namespace) -> None:
    from lmforge.model.flops import human
    from lmforge.scaling.fit import ScalingLaw, default_law
    from lmforge.scaling.plan import gpu_flops, plan

    law = ScalingLaw.load(args.fit) if args.fit else default_law()
    if args.flops is not None:
        flops = args.flops
    elif args.gpu:
        if (args.hours is None) == (args.days is None):
            raise ValueError("with --gpu give exactly one of --hours or --days")
        flops = gpu_flops(args.gpu, args.count, args.hours or args.days * 24, args.mfu)
    else:
        raise ValueError("give --flops, or --gpu with --count, --hours/--days and --mfu")
    pct = f"{args.level:.0%}"
    print(f"law: {law.source}")
    if not args.fit:
        print("  (intervals treat the published 80% parameter intervals as independent: conservative)")
    print("  " + ", ".join(f"{k}={v:.4g}" for k, v in law.params.items()))
    p = plan(law, flops, args.level)
    print(f"budget: {flops:.3e} FLOPs")
    print(f"N* (params)  = {human(p.n_opt)}   {pct} interval [{human(p.n_interval[0])}, {human(p.n_interval[1])}]")
    print(f"D* (tokens)  = {human(p.d_opt)}   {pct} interval [{human(p.d_interval[0])}, {human(p.d_interval[1])}]")
    print(f"tokens/param = {p.d_opt / p.n_opt:.1f}")
    print(f"predicted loss at (N*, D*) = {p.loss:.3f}   {pct} interval "
          f"[{p.loss_interval[0]:.3f}, {p.loss_interval[1]:.3f}]")
    if args.preset or args.params:
        _predict_at(law, args, flops)


def _predict_at(law, args: argparse.Namespace, flops: float) -> None:
    from lmforge.model.flops import human
    from lmforge.scaling.plan import preset_size

    if args.preset:
        n, fpt = preset_size(args.preset)
    else:
        n, fpt = args.params, 6 * args.params
    d = args.tokens or flops / fpt
    lo, hi = law.predict_interval(n, d, level=args.level)
    print(f"at N={human(n)}, D={human(d)} tokens ({fpt * d:.3e} FLOPs): predicted loss "
          f"{float(law.predict(n, d)):.3f}   {args.level:.0%} interval [{lo:.3f}, {hi:.3f}]")
