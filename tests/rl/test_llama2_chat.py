"""The llama2-chat recipe: its tiny scale (from the tests' tiny model) runs SFT -> reward model ->
rejection sampling -> PPO and reports each step's numbers, the reward model ranking held-out
pairs; its real scale dry-runs at Llama 2 7B sizes."""

import json
import re

import pytest

from lmforge.recipes.find import RunConfig, recipes_dir, run_named
from lmforge.recipes.plan import plan
from lmforge.recipes.runner import load_recipe, run_recipe
from tests.recipes.standins import write_base

TINY = ["stages.corpus.skip=true", "stages.tokenizer.skip=true", "stages.data.skip=true",
        "stages.sft.train.max_steps=30", "stages.sft.skill_test=null", "stages.rm.train.max_steps=40",
        "stages.rs.train.max_steps=10", "stages.ppo.train.max_steps=8"]


@pytest.mark.slow
def test_tiny_llama2_chat_path(tmp_path, base_dir):
    recipe = load_recipe(recipes_dir() / "llama2-chat.yaml", [*TINY, f"stages.base={{kind: model, path: {base_dir}}}"],
                         out=str(tmp_path / "run"))
    records = run_recipe(recipe, log=lambda m: None)
    rm, rs, ppo = (records[k]["summary"] for k in ("rm", "rs", "ppo"))
    print(json.dumps({"rm_accuracy": rm["heldout_accuracy"], "rm_pairs": rm["heldout_pairs"],
                      **{f"{k}_{x}": records[k]["summary"].get(x) for k in ("rs", "ppo")
                         for x in ("heldout_reward_before", "heldout_reward_after", "heldout_reward_n",
                                   "skill_accuracy_before", "skill_accuracy_after", "reward_first5",
                                   "reward_last5", "rs_mean_reward", "rs_best_reward")}}))
    assert rm["heldout_pairs"] == 40 and rm["heldout_accuracy"] > 0.8
    assert rs["rs_best_reward"] > rs["rs_mean_reward"]  # the winners SFT trains on score above the samples
    # Not asserted: that the held-out mean reward rises through RS and PPO. At this budget (a 2-layer
    # model from a random start SFT-ed 30 steps, RS-SFT 10 steps, PPO 8 steps; greedy, n = 20) it falls:
    # 2.409 -> 1.763 -> 1.763 (this config, the same in two runs). The SFT policy's greedy reply is empty
    # (skill 0.0), which the RM scores ~2.4; RS never keeps empty winners, and its SFT moves greedy to
    # one token per language that the RM scores lower (docs/rl.md, "Recipe llama2-chat").
    assert ppo["reward_first5"] is not None and ppo["kl_last5"] > 0
    assert ppo["heldout_reward_n"] == 20
    report = (tmp_path / "run" / "report.md").read_text()
    assert "reward model held-out pair accuracy" in report and "held-out mean reward before -> after PPO" in report


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
