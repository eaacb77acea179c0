"""Recipe stages after SFT/DPO: `rm` (reward model) and `rl` (GRPO, PPO or rejection sampling)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

from lmforge.recipes.kinds import StageContext, stage_kind
from lmforge.recipes.stages.rl_plots import plot_reward_curve
from lmforge.recipes.stages.training import (
    SkillTest,
    StageInterrupted,
    model_skill_scores,
)
from lmforge.rl.evaluate import policy_reward
from lmforge.rl.reward_model import RMConfig, run_rm
from lmforge.rl.run import RLConfig, RLResult, run_rl
from lmforge.rl.toydata import RLHFDataConfig, run_rlhf_data
from lmforge.stats import change, rate
from lmforge.train.trainer import pick_device

_NAMES = {"grpo": "GRPO", "ppo": "PPO", "rejection_sampling": "rejection sampling"}


class RewardTest(BaseModel):
    """Report-only: held-out prompts whose greedy completions are scored with the stage's rewards."""
    reward_test: str | None = Field(None, description=(
        "prompts jsonl (same keys as prompts.files) scored before/after with the stage's rewards (greedy)"))


class RLStage(RLConfig, SkillTest, RewardTest):
    pass


def _policy_reward(p: RLStage, model_dir: str) -> dict[str, float]:
    return policy_reward(model_dir, p.reward_test, p.rewards, p.sampling.max_new_tokens, p.prompts.prompt_key,
                         p.prompts.answer_key, device=str(pick_device(p.train.device)))


def _training_summary(p: RLStage, r: RLResult, name: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """Summary and headline of the run itself: the reward curve, or best-of-K's sample rewards."""
    summary: dict[str, Any] = {"steps": r.train.step, "algorithm": p.algorithm,
                               "reward_first5": r.reward_first, "reward_last5": r.reward_last, "kl_last5": r.kl_last}
    headline: dict[str, Any] = {}
    if r.rejection is not None:
        rs = r.rejection
        summary.update(rs_prompts=rs.prompts, rs_kept=rs.kept, rs_mean_reward=rs.mean_reward,
                       rs_best_reward=rs.best_reward)
        headline[f"rejection sampling: mean reward of {p.rejection.k} samples -> best of {p.rejection.k}"] = \
            f"{rs.mean_reward:.3f} -> {rs.best_reward:.3f} ({rs.kept} of {rs.prompts} prompts kept)"
    elif r.reward_first is not None:
        headline[f"{name} mean reward (first 5 steps -> last 5)"] = f"{r.reward_first:.3f} -> {r.reward_last:.3f}"
    return summary, headline


@stage_kind("rlhf_data", RLHFDataConfig)
def rlhf_data(p: RLHFDataConfig, ctx: StageContext) -> tuple[str, dict[str, Any]]:
    """The llama2-chat recipe's toy data: SFT, preference pairs, RL prompts, a held-out test."""
    n = run_rlhf_data(p)
    return p.out, {"sft": n.sft, "pairs": n.pairs, "prompts": n.prompts, "test": n.test}


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
    """`lmforge rl`: the reward curve (metrics file), KL, and the skill test (exact match) and the
    held-out prompts' mean reward before/after."""
    name = _NAMES[p.algorithm]
    before = model_skill_scores(p.model, p.skill_test) if p.skill_test else None
    reward_before = _policy_reward(p, p.model) if p.reward_test else None
    r = run_rl(p)
    if r.train.interrupted:
        raise StageInterrupted(f"{ctx.name} interrupted at step {r.train.step}")
    summary, headline = _training_summary(p, r, name)
    summary["metrics_file"] = str(ctx.out_dir / "metrics.jsonl")
    png = plot_reward_curve(ctx.out_dir / "metrics.jsonl", ctx.out_dir / "reward.png", f"{ctx.name}: {name} reward")
    if png is not None:
        summary["images"] = [str(png)]
    if reward_before is not None:
        after = _policy_reward(p, str(r.model_dir))
        summary.update(heldout_reward_before=reward_before["mean_reward"], heldout_reward_after=after["mean_reward"],
                       heldout_reward_n=after["n"])
        headline[f"held-out mean reward before -> after {name} (n={after['n']})"] = \
            f"{reward_before['mean_reward']:.3f} -> {after['mean_reward']:.3f}"
    if before is not None:
        after = model_skill_scores(r.model_dir, p.skill_test)
        summary.update(skill_accuracy_before=before["accuracy"], skill_accuracy_after=after["accuracy"])
        headline[f"skill exact match before -> after {name}"] = change(rate(before["accuracy"], before["n"]),
                                                                       rate(after["accuracy"], after["n"]))
    summary["headline"] = headline
    return str(r.model_dir), summary
