"""`lmforge rm|rl|sample-pairs CONFIG.yaml [key=value ...]`: reward models, RL (GRPO, PPO,
rejection sampling) and preference pairs from a model's own samples, derived from their configs."""

from __future__ import annotations

import argparse

from lmforge.cli.derive import Verb, add_verb
from lmforge.rl.preference_samples import PreferenceSamples, PreferenceSamplesConfig, run_preference_samples
from lmforge.rl.reward_model import RMConfig, RMResult, run_rm
from lmforge.rl.run import RLConfig, RLResult, run_rl


def _show_rm(r: RMResult, cfg: RMConfig) -> None:
    if r.train.interrupted:
        print(f"interrupted at step {r.train.step} (checkpoint saved; rerun to resume)")
        return
    acc = "n/a" if r.heldout_accuracy is None else f"{r.heldout_accuracy:.3f}"
    print(f"done: step {r.train.step}, loss {r.train.loss}; held-out pair accuracy {acc} "
          f"({r.heldout_pairs} pairs); reward model in {r.model_dir}")


def _show_rl(r: RLResult, cfg: RLConfig) -> None:
    if r.train.interrupted:
        print(f"interrupted at step {r.train.step} (checkpoint saved; rerun to resume)")
        return
    fmt = lambda x: "n/a" if x is None else f"{x:.3f}"
    if r.rejection is not None:
        rs = r.rejection
        print(f"done: best of {cfg.rejection.k} kept for {rs.kept} of {rs.prompts} prompts (mean reward "
              f"{rs.mean_reward:.3f} -> best {rs.best_reward:.3f}), SFT {r.train.step} steps; model in {r.model_dir}")
        return
    print(f"done: step {r.train.step}; mean reward {fmt(r.reward_first)} (first 5 steps) -> "
          f"{fmt(r.reward_last)} (last 5), kl {fmt(r.kl_last)}; model in {r.model_dir}")


def _show_pairs(r: PreferenceSamples, cfg: PreferenceSamplesConfig) -> None:
    print(f"done: {r.pairs} pairs from {r.prompts} prompts ({r.ties} with every candidate tied: no pair); "
          f"mean reward of the {cfg.k} samples per prompt {r.mean_reward:.3f}; pairs in {r.path}")


RM = Verb(RMConfig, run_rm, config_file=True, show=_show_rm,
          help="reward model (Bradley-Terry on chosen/rejected pairs) saved as a transformers classifier")
RL = Verb(RLConfig, run_rl, config_file=True, show=_show_rl,
          help="reinforcement learning (GRPO, PPO, rejection sampling) with rule, reward-model or judge rewards")


PAIRS = Verb(PreferenceSamplesConfig, run_preference_samples, config_file=True, show=_show_pairs,
             help="preference pairs from a model's own samples, a reward as the annotator (Llama 2's collection step)")


def register(sub: argparse._SubParsersAction) -> None:
    add_verb(sub, "rm", RM)
    add_verb(sub, "rl", RL)
    add_verb(sub, "sample-pairs", PAIRS)
