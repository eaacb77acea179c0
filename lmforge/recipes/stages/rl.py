"""Recipe stages after SFT/DPO: `rm` (reward model), `rl` (GRPO, PPO or rejection sampling) and
`preference_samples` (pairs from a policy's own samples)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field

from lmforge.recipes.kinds import StageContext, stage_kind
from lmforge.recipes.stages.rl_plots import plot_reward_curve
from lmforge.recipes.stages.training import (
    SkillTest,
    StageInterrupted,
    model_skill_scores,
    skill_change,
)
from lmforge.report import read_metrics
from lmforge.rl.evaluate import policy_reward
from lmforge.rl.preference_samples import PreferenceSamplesConfig, run_preference_samples
from lmforge.rl.reward_model import RMConfig, run_rm
from lmforge.rl.run import RLConfig, RLResult, run_rl
from lmforge.rl.toydata import RLHFDataConfig, run_rlhf_data
from lmforge.stats import change, mean, paired_difference, rate
from lmforge.train.trainer import pick_device

_NAMES = {"grpo": "GRPO", "ppo": "PPO", "rejection_sampling": "rejection sampling"}


class RewardTest(BaseModel):
    """Report-only: held-out prompts whose greedy completions are scored with the stage's rewards."""
    reward_test: str | None = Field(None, description=(
        "prompts jsonl (same keys as prompts.files) scored before/after with the stage's rewards"))
    reward_test_samples: int = Field(0, ge=0, description=(
        "completions per reward_test prompt, sampled as in the rollouts (0: one greedy completion)"))


class RLStage(RLConfig, SkillTest, RewardTest):
    pass


def _policy_reward(p: RLStage, model_dir: str) -> dict[str, Any]:
    return policy_reward(model_dir, p.reward_test, p.rewards, p.sampling.max_new_tokens, p.prompts.prompt_key,
                         p.prompts.answer_key, device=str(pick_device(p.train.device)), samples=p.reward_test_samples,
                         temperature=p.sampling.temperature, seed=p.train.seed)


def _reward_change(p: RLStage, before: dict[str, Any], after: dict[str, Any], name: str) -> tuple[dict, dict]:
    """Summary keys and headline rows of the held-out reward: before -> after over the prompts, and
    the paired per-prompt difference, each with a bootstrap interval."""
    how = f"{p.reward_test_samples} samples per prompt" if p.reward_test_samples else "greedy"
    diffs = [a - b for a, b in zip(after["per_prompt"], before["per_prompt"])]
    summary = {"heldout_reward_before": before["mean_reward"], "heldout_reward_after": after["mean_reward"],
               "heldout_reward_n": after["n"], "heldout_reward_samples": p.reward_test_samples,
               "heldout_reward_gain": sum(diffs) / len(diffs),
               "heldout_reward_parts": {k[len("reward_"):]: [before[k], after[k]] for k in after if k.startswith("reward_")}}
    headline = {f"held-out mean reward before -> after {name} ({how})":
                change(mean(before["per_prompt"], unit="prompts"), mean(after["per_prompt"], unit="prompts")),
                f"held-out reward gain of {name}, paired by prompt": paired_difference(diffs, unit="prompts")}
    return summary, headline


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
        headline[f"{name} mean reward (first 5 rollouts -> last 5)"] = _reward_curve_change(Path(p.out) / "metrics.jsonl")
    return summary, headline


def _reward_curve_change(metrics_file: Path) -> dict[str, Any]:
    """The training reward of the first 5 rollouts -> the last 5, each a mean over its rollouts with a
    bootstrap interval. Shown, not counted as learning (`decides`: False): these are the training
    prompts, as a training loss is the training data. A rollout trained on for several PPO epochs
    is counted once."""
    rows = [r for r in read_metrics(metrics_file) if "reward" in r and r.get("ppo_epoch", 1.0) == 1.0]
    rewards = [r["reward"] for r in rows]
    k = max(1, min(5, len(rewards) // 2))
    return {**change(mean(rewards[:k], unit="rollouts"), mean(rewards[-k:], unit="rollouts")), "decides": False}


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
        summary["headline"] = {"reward model held-out pair accuracy":
                               rate(r.heldout_accuracy, r.heldout_pairs, chance=0.5, unit="pairs")}
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
        more_summary, more_headline = _reward_change(p, reward_before, _policy_reward(p, str(r.model_dir)), name)
        summary.update(more_summary)
        headline.update(more_headline)
    if before is not None:
        after = model_skill_scores(r.model_dir, p.skill_test)
        summary.update(skill_accuracy_before=before["accuracy"], skill_accuracy_after=after["accuracy"])
        headline.update(skill_change(before, after, name))
    summary["headline"] = headline
    return str(r.model_dir), summary


@stage_kind("preference_samples", PreferenceSamplesConfig)
def preference_samples(p: PreferenceSamplesConfig, ctx: StageContext) -> tuple[str, dict[str, Any]]:
    """Pairs from the policy's own samples, the reward as annotator (Llama 2's collection step)."""
    r = run_preference_samples(p)
    summary = {"prompts": r.prompts, "pairs": r.pairs, "ties": r.ties, "sample_mean_reward": r.mean_reward,
               "headline": {f"preference pairs from {p.k} samples per prompt":
                            f"{r.pairs} of {r.prompts} prompts ({r.ties} ties: no pair)"}}
    return p.out, summary
