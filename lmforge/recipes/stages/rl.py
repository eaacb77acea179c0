"""Recipe stages after SFT/DPO: `rm` (reward model) and `rl` (GRPO with rule rewards)."""

from __future__ import annotations

from typing import Any

from lmforge.recipes.kinds import StageContext, stage_kind
from lmforge.recipes.stages.training import (
    SkillTest,
    StageInterrupted,
    model_skill_scores,
)
from lmforge.rl.reward_model import RMConfig, run_rm
from lmforge.rl.run import RLConfig, run_rl


class RLStage(RLConfig, SkillTest):
    pass


@stage_kind("rm", RMConfig)
def rm(p: RMConfig, ctx: StageContext) -> tuple[str, dict[str, Any]]:
    """`lmforge rm`: Bradley-Terry reward model; its held-out pair accuracy in the report."""
    r = run_rm(p)
    if r.train.interrupted:
        raise StageInterrupted(f"{ctx.name} interrupted at step {r.train.step}")
    summary: dict[str, Any] = {"metrics_file": str(ctx.out_dir / "metrics.jsonl"), "steps": r.train.step,
                               "final_loss": r.train.loss, "heldout_pairs": r.heldout_pairs,
                               "heldout_accuracy": r.heldout_accuracy}
    if r.heldout_accuracy is not None:
        summary["headline"] = {"reward model held-out pair accuracy": round(r.heldout_accuracy, 3)}
    return str(r.model_dir), summary


@stage_kind("rl", RLStage)
def rl(p: RLStage, ctx: StageContext) -> tuple[str, dict[str, Any]]:
    """`lmforge rl`: GRPO; the reward curve (metrics file), KL and the skill test before/after."""
    before = model_skill_scores(p.model, p.skill_test) if p.skill_test else None
    r = run_rl(p)
    if r.train.interrupted:
        raise StageInterrupted(f"{ctx.name} interrupted at step {r.train.step}")
    summary: dict[str, Any] = {"metrics_file": str(ctx.out_dir / "metrics.jsonl"), "steps": r.train.step,
                               "reward_first5": r.reward_first, "reward_last5": r.reward_last, "kl_last5": r.kl_last}
    headline: dict[str, Any] = {}
    if r.reward_first is not None:
        headline["GRPO mean reward (first 5 steps -> last 5)"] = f"{r.reward_first:.3f} -> {r.reward_last:.3f}"
    if before is not None:
        after = model_skill_scores(r.model_dir, p.skill_test)
        summary.update(skill_accuracy_before=before["accuracy"], skill_accuracy_after=after["accuracy"])
        headline["skill exact match before -> after GRPO"] = f"{before['accuracy']:.2f} -> {after['accuracy']:.2f}"
    summary["headline"] = headline
    return str(r.model_dir), summary
