"""`lmforge rl` with algorithm ppo and rejection_sampling on the tiny model: a PPO run stopped in
the middle of replaying a rollout (ppo.epochs 2), or SIGKILLed, and resumed ends with the same
weights as an uninterrupted one; its folder is a plain causal LM; rejection sampling keeps each
prompt's best."""

import json
from pathlib import Path

import pytest
import torch
import yaml

from lmforge.model import load_model
from lmforge.model.io import read_weights
from lmforge.rl.run import RLConfig, run_rl
from tests.fuzz.test_kill import kill_during
from tests.rl.test_grpo_run import _prompts


def _cfg(tmp_path, base_dir, out, algorithm="ppo", **train):
    return RLConfig(out=str(tmp_path / out), model=str(base_dir), algorithm=algorithm,
                    prompts={"files": [_prompts(tmp_path / "p.jsonl", 8)]},
                    rewards=[{"kind": "regex", "pattern": r"\d"}, {"kind": "regex", "pattern": "[a-m]", "weight": 0.5}],
                    ppo={"kl_coef": 0.05, "epochs": 2}, rejection={"k": 4, "batch_size": 4},
                    sampling={"max_new_tokens": 4},
                    train={"batch_size": 4, "lr": 1e-2, "device": "cpu", "schedule": "constant", **train})


def _killed_then_resumed(cfg: RLConfig, tmp_path) -> RLConfig:
    """`lmforge rl` in a subprocess, SIGKILLed as soon as its first checkpoint is on disk (in the
    middle of a step or of writing the next checkpoint), then resumed in this process."""
    path = tmp_path / "killed.yaml"
    path.write_text(yaml.safe_dump(cfg.model_dump(mode="json")))
    ckpts = Path(cfg.out) / "checkpoints"
    landed = kill_during(["rl", str(path)], lambda: any(ckpts.glob("step-*/trainer_state.json")), 0.0)
    assert landed, "the run finished before the kill"
    return cfg


def test_ppo_killed_or_stopped_mid_replay_resumes_to_the_same_weights(tmp_path, base_dir):
    """Stopped after step 1 (the rollout's first of 2 epochs) and resumed to 4, or SIGKILLed
    during the run and resumed: the checkpoint carries the rollout being replayed, so every run
    ends with the weights of the uninterrupted one."""
    whole = run_rl(_cfg(tmp_path, base_dir, "whole", max_steps=4))
    run_rl(_cfg(tmp_path, base_dir, "split", max_steps=1, save_every=1))
    resumed = run_rl(_cfg(tmp_path, base_dir, "split", max_steps=4, save_every=1))
    killed = run_rl(_killed_then_resumed(_cfg(tmp_path, base_dir, "killed", max_steps=4, save_every=1), tmp_path))
    a = read_weights(whole.model_dir)
    assert not any(k.startswith("v_head") for k in a)
    for other in (resumed, killed):
        b = read_weights(other.model_dir)
        assert other.train.step == 4 and sorted(a) == sorted(b)
        assert max((a[k] - b[k]).abs().max().item() for k in a) == 0.0
    base = read_weights(base_dir)
    assert max((a[k] - base[k]).abs().max().item() for k in a) > 1e-3  # it did train
    rows = {k: [json.loads(x) for x in (tmp_path / k / "metrics.jsonl").read_text().splitlines()]
            for k in ("whole", "split")}
    assert [r["ppo_epoch"] for r in rows["whole"]] == [1, 2, 1, 2]
    assert rows["whole"][0]["reward"] == rows["whole"][1]["reward"]  # one rollout, two updates
    assert rows["whole"][1]["approx_kl"] > 0  # the second update sees a ratio != 1
    keys = ("reward", "loss", "pg_loss", "vf_loss", "kl")
    assert [[r[k] for k in keys] for r in rows["split"]] == [[r[k] for k in keys] for r in rows["whole"]]
    load_model(whole.model_dir)  # a plain causal LM folder (no value head tensors)
    ckpt = read_weights(tmp_path / "split" / "checkpoints" / "step-0000004" / "model")
    assert "v_head.weight" in ckpt  # checkpoints keep the value head for resuming


def test_rejection_sampling_keeps_each_prompts_best(tmp_path, base_dir):
    torch.manual_seed(0)
    res = run_rl(_cfg(tmp_path, base_dir, "rs", algorithm="rejection_sampling", max_steps=2))
    rs = res.rejection
    winners = [json.loads(x) for x in (tmp_path / "rs" / "winners.jsonl").read_text().splitlines()]
    assert rs.prompts == 8 and rs.kept == len(winners) > 0
    assert rs.best_reward == pytest.approx(sum(w["reward"] for w in winners) / len(winners))
    assert rs.best_reward >= rs.mean_reward  # the best of 4 is at least their mean
    assert all(w["messages"][-1]["role"] == "assistant" and w["messages"][-1]["content"] for w in winners)
    assert res.train.step == 2 and (res.model_dir / "model.safetensors").is_file()
    lineage = json.loads((res.model_dir / "lmforge.json").read_text())["lineage"]
    assert lineage[-1]["created_by"] == "lmforge sft"  # the one SFT path trained on the winners
