"""Recipe stages `distill` (one `lmforge distill` run) and `distill_seeds` (issue 19's claim: a
student distilled from a teacher against the same student trained from scratch on the same
tokens, once per seed, with a 95% t-interval over seeds of the paired difference)."""

from __future__ import annotations

from contextlib import nullcontext
from pathlib import Path
from typing import Any

import torch
from pydantic import Field, model_validator

from lmforge.distill.run import DistillConfig, KDOptions, run_distill
from lmforge.errors import UserError
from lmforge.model import load_model
from lmforge.model.flops import param_count
from lmforge.model.io import load_config
from lmforge.model.source import ModelSource
from lmforge.recipes.kinds import StageContext, StageParams, stage_kind
from lmforge.recipes.stages.claims import Arm, plot
from lmforge.recipes.stages.training import StageInterrupted
from lmforge.report import read_metrics
from lmforge.stats import fmt, reads, t_interval
from lmforge.tokens.loader import DataConfig, TokenLoader
from lmforge.train.config import TrainConfig
from lmforge.train.objectives import causal_lm
from lmforge.train.pretrain import PretrainConfig, run_pretrain
from lmforge.train.trainer import evaluate, pick_device


@stage_kind("distill", DistillConfig)
def distill(p: DistillConfig, ctx: StageContext) -> tuple[str, dict[str, Any]]:
    """`lmforge distill`: white-box (KL on the teacher's logits) or black-box (SFT on its answers)."""
    r = run_distill(p)
    if r.train.interrupted:
        raise StageInterrupted(f"{ctx.name} interrupted at step {r.train.step}")
    summary: dict[str, Any] = {"metrics_file": str(ctx.out_dir / "metrics.jsonl"), "steps": r.train.step,
                               "mode": r.mode, "tokens": r.train.tokens, "final_loss": r.train.loss}
    if r.val_ce is not None:
        summary["val_ce"] = r.val_ce
        summary["headline"] = {"distilled student validation cross-entropy": round(r.val_ce, 4)}
    if r.teacher_answers is not None:
        summary["teacher_answers"] = r.teacher_answers
    return str(r.model_dir), summary


class DistillSeedsParams(StageParams):
    teacher: str = Field(description="the teacher model folder (its vocabulary is the student's)")
    model: ModelSource = Field(description="the student: a fresh preset ({preset: NAME, tokenizer: DIR}); "
                                           "its init seed is replaced by each of `seeds`")
    data: DataConfig = Field(description="packed data: both arms train on it and are scored on its val split")
    kd: KDOptions = Field(default_factory=KDOptions, description="the distilled arm's loss")
    train: TrainConfig = Field(description="both arms' schedule (its seed is replaced by each of `seeds`)")
    seeds: list[int] = Field([0, 1], min_length=1, description="each seed sets both arms' init and data "
                                                               "order: one scratch/distilled pair per seed")
    title: str = "distilled student vs the same student from scratch"

    @model_validator(mode="after")
    def _fresh(self) -> "DistillSeedsParams":
        if self.model.path or not self.model.preset:
            raise UserError("model: the student must be a fresh preset ({preset: NAME, tokenizer: DIR}), so "
                            "that both arms start from the same initialisation")
        if len(set(self.seeds)) != len(self.seeds):
            raise UserError(f"seeds: {self.seeds} repeats a seed")
        return self


ARMS = ("scratch", "distilled")


def pair_configs(p: DistillSeedsParams, out: Path) -> dict[tuple[str, int], PretrainConfig | DistillConfig]:
    """(arm, seed) -> that run's config: the same student, init seed, data, schedule and data order."""
    cfgs: dict[tuple[str, int], PretrainConfig | DistillConfig] = {}
    for seed in p.seeds:
        model, train = p.model.model_copy(update={"seed": seed}), p.train.model_copy(update={"seed": seed})
        cfgs["scratch", seed] = PretrainConfig(out=str(out / f"scratch-seed{seed}"), model=model, data=p.data,
                                               train=train)
        cfgs["distilled", seed] = DistillConfig(out=str(out / f"distilled-seed{seed}"), teacher=p.teacher,
                                                model=model, data=p.data, kd=p.kd, train=train)
    return cfgs


def train_arm(cfg: PretrainConfig | DistillConfig, name: str) -> tuple[list[tuple[int, float]], int, str]:
    """One run (resumes from its checkpoints): its logged validation cross-entropy curve, the
    tokens it trained on and its model folder."""
    if isinstance(cfg, DistillConfig):
        result, key = run_distill(cfg).train, "val_ce"
    else:
        result, key = run_pretrain(cfg, created_by=f"lmforge run: {name}")[0], "val_loss"
    if result.interrupted:
        raise StageInterrupted(f"{name} interrupted at step {result.step}")
    curve = [(r["step"], r[key]) for r in read_metrics(Path(cfg.out) / "metrics.jsonl") if key in r]
    return curve, result.tokens, str(result.model_dir)


def _run_all(p: DistillSeedsParams, ctx: StageContext) -> dict[tuple[str, int], tuple]:
    """Every (arm, seed) run, one after the other in this process."""
    return {key: train_arm(cfg, f"{ctx.name}/{key[0]} seed {key[1]}")
            for key, cfg in pair_configs(p, ctx.out_dir).items()}


def val_ce(model: torch.nn.Module, p: DistillSeedsParams) -> float:
    """Next-token cross-entropy on the first `train.eval_batches` validation batches (the batches
    the training loop evaluates both arms on)."""
    val = TokenLoader(p.data, p.train.seq_len, p.train.batch_size, split="val")
    device = pick_device(p.train.device)
    return evaluate(model.to(device), causal_lm, val.eval_batches(p.train.eval_batches), device, nullcontext,
                    p.train.eval_batches)[0]


def _seed_rows(p: DistillSeedsParams, runs: dict, scores: dict) -> list[dict[str, Any]]:
    rows = []
    for seed in p.seeds:
        s, d = scores["scratch", seed], scores["distilled", seed]
        rows.append({"seed": seed, "tokens (scratch)": runs["scratch", seed][1],
                     "tokens (distilled)": runs["distilled", seed][1], "scratch val CE": round(s, 4),
                     "distilled val CE": round(d, 4), "distilled minus scratch": round(d - s, 4)})
    return rows


def _summary_rows(p: DistillSeedsParams, scores: dict, teacher_ce: float, student: str) -> list[dict[str, Any]]:
    rows = [{"model": "teacher", "layers": load_config(p.teacher).num_hidden_layers,
             "params": param_count(load_config(p.teacher)), "val CE [95% t over seeds]": f"{teacher_ce:.4f}"}]
    for arm in ARMS:
        rows.append({"model": f"student, {arm}", "layers": load_config(student).num_hidden_layers,
                     "params": param_count(load_config(student)),
                     "val CE [95% t over seeds]": fmt(*t_interval([scores[arm, s] for s in p.seeds]), digits=4)})
    diff = t_interval([scores["distilled", s] - scores["scratch", s] for s in p.seeds])
    rows.append({"model": "distilled minus scratch (paired by seed)", "layers": "", "params": "",
                 "val CE [95% t over seeds]": f"{fmt(*diff, digits=4)}: {reads(diff[1], diff[2])}"})
    return rows


@stage_kind("distill_seeds", DistillSeedsParams)
def distill_seeds(p: DistillSeedsParams, ctx: StageContext) -> tuple[str, dict[str, Any]]:
    """Both arms once per seed; every final model and the teacher scored on the same validation
    batches; a per-seed table, a summary with 95% t-intervals over seeds, and a plot."""
    runs = _run_all(p, ctx)
    scores = {key: val_ce(load_model(folder), p) for key, (_, _, folder) in runs.items()}
    teacher_ce = val_ce(load_model(p.teacher), p)
    student = runs["scratch", p.seeds[0]][2]
    init = val_ce(p.model.model_copy(update={"seed": p.seeds[0]}).build(load_config(student).vocab_size), p)
    arms = [Arm(arm, runs[arm, p.seeds[0]][2], init, {s: runs[arm, s][0] for s in p.seeds}) for arm in ARMS]
    png = plot(arms, f"{p.title} (teacher: {teacher_ce:.3f})", p.train.warmup_steps, ctx.out_dir / "distill.png",
               control=arms[0])
    val_tokens = p.train.eval_batches * p.train.batch_size * p.train.seq_len
    diff = t_interval([scores["distilled", s] - scores["scratch", s] for s in p.seeds])
    headline = {f"distilled minus scratch, val CE ({len(p.seeds)} seeds, paired, 95% t)":
                f"{fmt(*diff, digits=4)}: {reads(*diff[1:], 'distilled lower', 'distilled higher')}",
                "teacher val CE": round(teacher_ce, 4)}
    tables = {f"per seed ({val_tokens:,} validation tokens, the same for every model)": _seed_rows(p, runs, scores),
              "summary (n = seeds; t-interval over seeds)": _summary_rows(p, scores, teacher_ce, student)}
    return str(png), {"tables": tables, "images": [str(png)], "headline": headline,
                      "scores": {f"{a} seed {s}": v for (a, s), v in scores.items()},
                      "teacher_val_ce": teacher_ce, "init_val_ce": init}
