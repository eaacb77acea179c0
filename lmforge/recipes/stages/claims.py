"""Claims measured over seeds (issue 20): earlier `pretrain` stages rerun with more training seeds
(the data order), each arm's final validation loss as a mean with a 95% t-interval over seeds,
and each arm's difference to a control paired by seed. One table and one plot."""

from __future__ import annotations

import math
from contextlib import nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import Field, model_validator

from lmforge.config import read_yaml
from lmforge.errors import UserError
from lmforge.model import load_model
from lmforge.model.flops import param_count
from lmforge.model.io import load_config
from lmforge.recipes.kinds import StageContext, StageParams, stage_kind
from lmforge.recipes.stages.intervals import fmt, reads, t_interval
from lmforge.recipes.stages.training import StageInterrupted
from lmforge.report import read_metrics
from lmforge.tokens.loader import TokenLoader
from lmforge.train.objectives import causal_lm
from lmforge.train.pretrain import PretrainConfig, run_pretrain
from lmforge.train.trainer import evaluate, pick_device


class SeedsParams(StageParams):
    stages: list[str] = Field(min_length=1, description="earlier pretrain stages (the arms), rerun with more seeds")
    seeds: list[int] = Field(min_length=1, description="extra train.seed values; each stage's own seed counts too")
    control: str | None = Field(None, description="one of `stages`: every other arm's final loss minus "
                                                  "the control's, paired by seed")
    labels: dict[str, str] = Field(default_factory=dict, description="stage -> its name in the table and plot")
    title: str = "validation loss over seeds"

    @model_validator(mode="after")
    def _control(self) -> "SeedsParams":
        if self.control is not None and self.control not in self.stages:
            raise UserError(f"control: {self.control!r} is not one of stages {self.stages}")
        return self


@dataclass
class Arm:
    stage: str
    label: str
    cfg: PretrainConfig
    start_loss: float
    curves: dict[int, list[tuple[int, float]]] = field(default_factory=dict)  # seed -> (step, val loss)

    def finals(self) -> dict[int, float]:
        return {s: c[-1][1] for s, c in self.curves.items() if c}


def stage_config(stage_dir: Path) -> PretrainConfig:
    """The config a pretrain stage ran with (its `config.yaml`)."""
    f = stage_dir / "config.yaml"
    if not f.is_file():
        raise UserError(f"seeds: {stage_dir.name} is not a finished pretrain stage (no {f})")
    return PretrainConfig.model_validate(read_yaml(f))


def start_loss(cfg: PretrainConfig) -> float:
    """The start model's validation loss on the batches the training run evaluates on."""
    val = TokenLoader(cfg.data, cfg.train.seq_len, cfg.train.batch_size, split="val")
    device = pick_device(cfg.train.device)
    model = load_model(cfg.model.path).to(device)
    return evaluate(model, causal_lm, val.eval_batches(cfg.train.eval_batches), device, nullcontext,
                    cfg.train.eval_batches)[0]


def _curve(metrics_file: Path) -> list[tuple[int, float]]:
    return [(r["step"], r["val_loss"]) for r in read_metrics(metrics_file) if "val_loss" in r]


def rerun(cfg: PretrainConfig, seed: int, out: Path, name: str) -> list[tuple[int, float]]:
    """The stage's training again with another seed; its validation curve."""
    again = cfg.model_copy(update={"out": str(out), "train": cfg.train.model_copy(update={"seed": seed})})
    result, _ = run_pretrain(again, created_by=f"lmforge run: {name} (seed {seed})")
    if result.interrupted:
        raise StageInterrupted(f"{name} seed {seed} interrupted at step {result.step}")
    return _curve(out / "metrics.jsonl")


def run_arm(p: SeedsParams, stage: str, ctx: StageContext) -> Arm:
    cfg = stage_config(ctx.run_dir / stage)
    if cfg.train.seed in p.seeds:
        raise UserError(f"seeds: {stage} already ran with seed {cfg.train.seed}; give other seeds")
    arm = Arm(stage, p.labels.get(stage, stage), cfg, start_loss(cfg))
    arm.curves[cfg.train.seed] = _curve(ctx.run_dir / stage / "metrics.jsonl")
    for seed in p.seeds:
        arm.curves[seed] = rerun(cfg, seed, ctx.out_dir / f"{stage}-seed{seed}", f"{ctx.name}/{stage}")
    return arm


def _row(arm: Arm, control: Arm | None) -> dict[str, Any]:
    shape = load_config(arm.cfg.model.path)
    finals = arm.finals()
    row: dict[str, Any] = {
        "arm": arm.label, "params": param_count(shape), "active params": param_count(shape, True),
        "steps": arm.cfg.train.max_steps, "seeds": len(finals), "start val loss": round(arm.start_loss, 4),
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


def plot(arms: list[Arm], title: str, warmup: int, png: Path) -> Path:
    """Left: mean validation curve per arm (band: min..max over seeds; step 0: the start model).
    Right: final loss per arm, each seed and the mean with its 95% t-interval."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax, bx) = plt.subplots(1, 2, figsize=(11, 4), gridspec_kw={"width_ratios": [3, 2]})
    for i, arm in enumerate(arms):
        steps = sorted({s for c in arm.curves.values() for s, _ in c})
        by = [[dict(c).get(s) for c in arm.curves.values()] for s in steps]
        mean = [arm.start_loss] + [sum(v for v in b if v is not None) / sum(v is not None for v in b) for b in by]
        low = [arm.start_loss] + [min(v for v in b if v is not None) for b in by]
        high = [arm.start_loss] + [max(v for v in b if v is not None) for b in by]
        line, = ax.plot([0] + steps, mean, "o-", markersize=3, label=arm.label)
        ax.fill_between([0] + steps, low, high, color=line.get_color(), alpha=0.25)
        finals = list(arm.finals().values())
        m, lo, hi = t_interval(finals)
        bx.plot([i] * len(finals), finals, "x", color=line.get_color())
        bx.errorbar([i + 0.15], [m], yerr=None if math.isnan(lo) else [[m - lo], [hi - m]], fmt="o",
                    color=line.get_color(), capsize=4)
    if warmup:
        ax.axvline(warmup, color="grey", linestyle=":", label=f"LR warm-up ends (step {warmup})")
    ax.set_xlabel("continued-pretraining step (step 0: the model as it starts)")
    ax.set_ylabel("validation loss (nats/token)")
    ax.set_title(title, fontsize=10)
    ax.legend(fontsize=8)
    bx.set_xticks(range(len(arms)), [a.label for a in arms], rotation=20, fontsize=8)
    bx.set_ylabel("final validation loss (nats/token)")
    bx.set_title("final: x = each seed, o = mean, bar = 95% t-interval", fontsize=9)
    fig.tight_layout()
    fig.savefig(png, dpi=100)
    plt.close(fig)
    return png


@stage_kind("seeds", SeedsParams)
def seeds(p: SeedsParams, ctx: StageContext) -> tuple[str, dict[str, Any]]:
    """Earlier pretrain stages rerun with more seeds: final val loss mean, 95% t-interval, paired
    differences to the control; a table and a plot."""
    missing = [s for s in p.stages if s not in ctx.summaries]
    if missing:
        raise UserError(f"seeds: {missing} are not earlier stages (earlier: {list(ctx.summaries)})")
    arms = [run_arm(p, s, ctx) for s in p.stages]
    control = next((a for a in arms if a.stage == p.control), None)
    rows = [_row(a, control) for a in arms]
    png = plot(arms, p.title, arms[0].cfg.train.warmup_steps, ctx.out_dir / "seeds.png")
    headline = {f"{r['arm']} minus {control.label}, final val loss ({r['seeds']} seeds, paired, 95% t)":
                f"{r[f'minus {control.label}, paired [95% t]']}: {r['reads']}"
                for r in rows if control is not None and "reads" in r}
    return str(png), {"tables": {f"{p.title} (n = seeds; t-interval over seeds)": rows},
                      "images": [str(png)], "headline": headline}
