"""Claims measured over seeds (issue 20): several start models continued with *the same*
pretraining schedule on the same data, each with several training seeds (the data order); each
arm's final validation loss as a mean with a 95% t-interval over seeds, and its difference to a
control arm paired by seed. One table and one plot. Runs go `workers` at a time, each in its own
process (one thread each when several run)."""

from __future__ import annotations

import math
import multiprocessing
import re
from concurrent.futures import ProcessPoolExecutor
from contextlib import nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from pydantic import Field, model_validator

from lmforge.errors import UserError
from lmforge.model import load_model
from lmforge.model.flops import param_count
from lmforge.model.io import load_config
from lmforge.recipes.kinds import StageContext, StageParams, stage_kind
from lmforge.recipes.stages.training import StageInterrupted
from lmforge.report import read_metrics, save_figure
from lmforge.stats import fmt, reads, t_interval
from lmforge.tokens.loader import DataConfig, TokenLoader
from lmforge.train.config import TrainConfig
from lmforge.train.objectives import causal_lm
from lmforge.train.pretrain import PretrainConfig, run_pretrain
from lmforge.train.trainer import evaluate, pick_device


class SeedsParams(StageParams):
    models: dict[str, str] = Field(min_length=1, description="arm -> start model folder; every arm is "
                                                             "continued with the same data and schedule")
    data: DataConfig = Field(description="packed data (the same for every arm)")
    train: TrainConfig = Field(description="the continued-pretraining schedule (its seed is replaced by each of `seeds`)")
    seeds: list[int] = Field([0, 1], min_length=1, description="train.seed values: each arm runs once per seed")
    control: str | None = Field(None, description="one of `models`: every other arm's final loss minus "
                                                  "the control's, paired by seed")
    workers: int = Field(1, gt=0, description="runs at once, each in its own process")
    title: str = "validation loss over seeds"

    @model_validator(mode="after")
    def _control(self) -> "SeedsParams":
        if self.control is not None and self.control not in self.models:
            raise UserError(f"control: {self.control!r} is not one of models {list(self.models)}")
        if len(set(self.seeds)) != len(self.seeds):
            raise UserError(f"seeds: {self.seeds} repeats a seed")
        return self


@dataclass
class Arm:
    label: str
    folder: str
    start_loss: float
    curves: dict[int, list[tuple[int, float]]] = field(default_factory=dict)  # seed -> (step, val loss)

    def finals(self) -> dict[int, float]:
        return {s: c[-1][1] for s, c in self.curves.items() if c}


def start_loss(folder: str, p: SeedsParams) -> float:
    """The start model's validation loss on the batches every run evaluates on."""
    val = TokenLoader(p.data, p.train.seq_len, p.train.batch_size, split="val")
    device = pick_device(p.train.device)
    return evaluate(load_model(folder).to(device), causal_lm, val.eval_batches(p.train.eval_batches), device,
                    nullcontext, p.train.eval_batches)[0]


def _curve(metrics_file: Path) -> list[tuple[int, float]]:
    return [(r["step"], r["val_loss"]) for r in read_metrics(metrics_file) if "val_loss" in r]


def train_one(cfg: PretrainConfig, name: str, threads: int = 0) -> list[tuple[int, float]]:
    """One arm with one seed (resumes from its checkpoints); its validation curve."""
    if threads:
        torch.set_num_threads(threads)
    result, _ = run_pretrain(cfg, created_by=f"lmforge run: {name}")
    if result.interrupted:
        raise StageInterrupted(f"{name} interrupted at step {result.step}")
    return _curve(Path(cfg.out) / "metrics.jsonl")


def run_configs(p: SeedsParams, ctx: StageContext) -> dict[tuple[str, int], PretrainConfig]:
    """(arm, seed) -> the pretrain config of that run, in the stage's folder."""
    return {(label, seed): PretrainConfig(
        out=str(ctx.out_dir / f"{re.sub(r'[^A-Za-z0-9]+', '-', label).strip('-')}-seed{seed}"),
        model={"path": folder}, data=p.data, train=p.train.model_copy(update={"seed": seed}))
        for label, folder in p.models.items() for seed in p.seeds}


def run_all(p: SeedsParams, ctx: StageContext) -> dict[tuple[str, int], list[tuple[int, float]]]:
    """Every (arm, seed) run: in this process, or `workers` processes at once."""
    cfgs = run_configs(p, ctx)
    name = lambda key: f"{ctx.name}/{key[0]} seed {key[1]}"  # noqa: E731
    if p.workers == 1:
        return {key: train_one(cfg, name(key)) for key, cfg in cfgs.items()}
    threads = max(1, (torch.get_num_threads() or 1) // p.workers)
    with ProcessPoolExecutor(p.workers, mp_context=multiprocessing.get_context("spawn")) as pool:
        futures = {key: pool.submit(train_one, cfg, name(key), threads) for key, cfg in cfgs.items()}
        return {key: f.result() for key, f in futures.items()}


def _row(arm: Arm, control: Arm | None, steps: int) -> dict[str, Any]:
    shape = load_config(arm.folder)
    finals = arm.finals()
    row: dict[str, Any] = {
        "arm": arm.label, "params": param_count(shape), "active params": param_count(shape, True),
        "steps": steps, "seeds": len(finals), "start val loss": round(arm.start_loss, 4),
        "final val loss per seed": ", ".join(f"{v:.4f}" for v in finals.values()),
        "final mean [95% t]": fmt(*t_interval(list(finals.values())), digits=4),
        "spread (max - min)": round(max(finals.values()) - min(finals.values()), 4)}
    if control is not None and arm is not control:
        base = control.finals()
        diffs = [v - base[s] for s, v in finals.items() if s in base]
        mean, lo, hi = t_interval(diffs)
        row[f"minus {control.label}, paired [95% t]"] = fmt(mean, lo, hi, 4)
        row["reads"] = reads(lo, hi, f"below {control.label}", f"above {control.label}")
    return row


def _finals_panel(bx, arms: list[Arm], colors: list[str], control: Arm | None) -> None:
    """Each arm's final loss (each seed: x; mean and 95% t-interval: o and bar), or with a control
    its final loss minus the control's, paired by seed (the test the table reads)."""
    base = control.finals() if control else {}
    shown = [a for a in arms if a is not control]
    for i, arm in enumerate(shown):
        values = [v - base[s] for s, v in arm.finals().items() if s in base] if control else \
            list(arm.finals().values())
        m, lo, hi = t_interval(values)
        color = colors[arms.index(arm)]
        bx.plot([i] * len(values), values, "x", color=color)
        bx.errorbar([i + 0.15], [m], yerr=None if math.isnan(lo) else [[m - lo], [hi - m]], fmt="o",
                    color=color, capsize=4)
    if control:
        bx.axhline(0, color=colors[arms.index(control)], linestyle="--", label=f"{control.label} (0)")
        bx.legend(fontsize=8)
    bx.set_xticks(range(len(shown)), [a.label for a in shown], rotation=20, fontsize=8)
    bx.set_ylabel(f"final val loss minus {control.label}" if control else "final validation loss (nats/token)")
    bx.set_title(("paired by seed: " if control else "final: ") + "x = each seed, o = mean, bar = 95% t",
                 fontsize=9)


def plot(arms: list[Arm], title: str, warmup: int, png: Path, control: Arm | None = None) -> Path:
    """Left: mean validation curve per arm (band: min..max over seeds; step 0: the start model).
    Right: the final losses (see `_finals_panel`)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax, bx) = plt.subplots(1, 2, figsize=(11, 4), gridspec_kw={"width_ratios": [3, 2]})
    colors = []
    for arm in arms:
        steps = sorted({s for c in arm.curves.values() for s, _ in c})
        by = [[v for v in (dict(c).get(s) for c in arm.curves.values()) if v is not None] for s in steps]
        line, = ax.plot([0] + steps, [arm.start_loss] + [sum(b) / len(b) for b in by], "o-", markersize=3,
                        label=arm.label)
        ax.fill_between([0] + steps, [arm.start_loss] + [min(b) for b in by],
                        [arm.start_loss] + [max(b) for b in by], color=line.get_color(), alpha=0.25)
        colors.append(line.get_color())
    if warmup:
        ax.axvline(warmup, color="grey", linestyle=":", label=f"LR warm-up ends (step {warmup})")
    ax.set_xlabel("continued-pretraining step (step 0: the model as it starts)")
    ax.set_ylabel("validation loss (nats/token)")
    ax.set_title(title, fontsize=10)
    ax.legend(fontsize=8)
    _finals_panel(bx, arms, colors, control)
    return save_figure(fig, png)


@stage_kind("seeds", SeedsParams)
def seeds(p: SeedsParams, ctx: StageContext) -> tuple[str, dict[str, Any]]:
    """Every start model continued with the same schedule, once per seed: final val loss mean,
    95% t-interval, paired differences to the control; a table and a plot."""
    arms = {label: Arm(label, folder, start_loss(folder, p)) for label, folder in p.models.items()}
    for (label, seed), curve in run_all(p, ctx).items():
        arms[label].curves[seed] = curve
    control = arms.get(p.control) if p.control else None
    rows = [_row(a, control, p.train.max_steps) for a in arms.values()]
    png = plot(list(arms.values()), p.title, p.train.warmup_steps, ctx.out_dir / "seeds.png", control)
    headline = {f"{r['arm']} minus {control.label}, final val loss ({r['seeds']} seeds, paired, 95% t)":
                f"{r[f'minus {control.label}, paired [95% t]']}: {r['reads']}"
                for r in rows if control is not None and "reads" in r}
    return str(png), {"tables": {f"{p.title} (n = seeds; t-interval over seeds)": rows},
                      "images": [str(png)], "headline": headline}
