"""The llama2-chat recipe: its tiny scale (from the tests' tiny model) runs SFT -> preference pairs
from the SFT model's own samples -> reward model -> rejection sampling -> PPO and reports each
step's numbers; over three seeds the reward model ranks held-out pairs and the policy's held-out
mean reward rises; its real scale dry-runs at Llama 2 7B sizes."""

import json
import re

import pytest

from lmforge.recipes.find import RunConfig, recipes_dir, run_named
from lmforge.recipes.plan import plan
from lmforge.recipes.runner import load_recipe, run_recipe
from lmforge.stats import t_interval
from tests.recipes.standins import write_base

TINY = ["stages.corpus.skip=true", "stages.tokenizer.skip=true", "stages.data.skip=true", "stages.sft.skill_test=null"]


def _seeded(seed: int) -> list[str]:
    return [f"stages.toy.seed={seed}", f"stages.compare.seed={seed}",
            *(f"stages.{s}.train.seed={seed}" for s in ("sft", "rm", "rs", "ppo"))]


def _run(tmp_path, base_dir, seed: int) -> dict:
    recipe = load_recipe(recipes_dir() / "llama2-chat.yaml",
                         [*TINY, *_seeded(seed), f"stages.base={{kind: model, path: {base_dir}}}"],
                         out=str(tmp_path / f"seed{seed}"))
    return {k: v["summary"] for k, v in run_recipe(recipe, log=lambda m: None).items()}


@pytest.mark.slow
def test_tiny_llama2_chat_reward_rises_over_seeds(tmp_path, base_dir):
    runs = [_run(tmp_path, base_dir, seed) for seed in range(3)]
    for r in runs:
        rm, rs, ppo = r["rm"], r["rs"], r["ppo"]
        print(json.dumps({"rm_accuracy": rm["heldout_accuracy"], "rm_pairs": rm["heldout_pairs"],
                          "reward": [rs["heldout_reward_before"], rs["heldout_reward_after"], ppo["heldout_reward_after"]],
                          "parts": [rs["heldout_reward_parts"], ppo["heldout_reward_parts"]],
                          "skill": [rs["skill_accuracy_before"], rs["skill_accuracy_after"], ppo["skill_accuracy_after"]]}))
        assert rm["heldout_accuracy"] > 0.8 and rm["heldout_pairs"] >= 60
        assert r["compare"]["pairs"] > 100  # the SFT model's samples, judged by exact match, are most of the RM's pairs
        assert rs["rs_best_reward"] > rs["rs_mean_reward"]  # the winners SFT trains on score above the samples
        assert ppo["heldout_reward_n"] == 20 and ppo["heldout_reward_samples"] == 8
        assert ppo["heldout_reward_after"] > rs["heldout_reward_before"]  # SFT -> RS -> PPO: the reward rises
        # ... and not only the reward model's share: the sampled replies are right more often
        assert ppo["heldout_reward_parts"]["exact"][1] > rs["heldout_reward_parts"]["exact"][0]
    gains = [r["ppo"]["heldout_reward_after"] - r["rs"]["heldout_reward_before"] for r in runs]
    centre, low, high = t_interval(gains)
    # Printed, not asserted: with 3 seeds the t interval is wide (0.365 [0.030, 0.700] here); the
    # per-seed rises above are the claim.
    print(f"SFT -> PPO held-out reward gain over 3 seeds: {centre:.3f} [{low:.3f}, {high:.3f}]")
    report = (tmp_path / "seed0" / "report.md").read_text()
    for row in ("reward model held-out pair accuracy", "held-out mean reward before -> after PPO (8 samples per prompt)",
                "held-out reward gain of PPO, paired by prompt", "preference pairs from 16 samples per prompt"):
        assert row in report


def test_real_scale_dry_runs_at_llama2_7b_sizes(tmp_path, capsys):
    base = write_base("llama2", tmp_path / "Llama-2-7b-hf")
    overrides = ["scale=real", f"stages.base.path={base}"]
    rows = {r["stage"]: r for r in plan(load_recipe(recipes_dir() / "llama2-chat.yaml", overrides))}
    assert set(rows) == {"base", "sft", "rm", "rs", "ppo"}
    for name in ("sft", "rm", "rs", "ppo"):
        assert rows[name]["params"] / 1e9 == pytest.approx(6.74, abs=0.01) and rows[name]["layers"] == 32
    assert rows["sft"]["samples"] == 861 * 4 * 2  # 2 epochs of Llama 2's 27,540 SFT annotations at batch 64 / 8 GPUs
    run_named(RunConfig(recipe="llama2-chat", dry_run=True, overrides=overrides))
    out = capsys.readouterr().out
    assert re.search(r"ppo\s+rl\s+32 layers\s+6.74B params", out)
    assert "! stages.rm.data.files[0]: /data/rm/hh-rlhf-pairs.jsonl does not exist (yet)" in out
