import json

import pytest
import torch

from lmforge.config import load_config
from lmforge.sft.cli import SFTConfig, run_dpo, run_sft
from lmforge.synth.skills import number_preferences, number_skill


def _write(path, recs):
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in recs), encoding="utf-8")
    return str(path)


def _cfg(tmp_path, base_dir, files, out, steps, lr, batch=16, extra=""):
    y = tmp_path / f"{out}.yaml"
    y.write_text(f"out: {tmp_path / out}\nmodel: {base_dir}\ndata:\n  files: {json.dumps(files)}\n  max_len: 64\n"
                 f"train:\n  max_steps: {steps}\n  lr: {lr}\n  batch_size: {batch}\n  warmup_steps: 2\n"
                 f"  weight_decay: 0.0\n  device: cpu\n  precision: fp32\n{extra}")
    return load_config(SFTConfig, y, [])


@pytest.mark.slow
def test_dpo_reward_accuracy_rises(tmp_path, base_dir):
    pairs = number_preferences(32, seed=1, numbers=range(20))
    pairs.append({"prompt": "x", "chosen": "same", "rejected": "same"})
    cfg = _cfg(tmp_path, base_dir, [_write(tmp_path / "p.jsonl", pairs)], "dpo", 30, 5e-3,
               extra="dpo:\n  beta: 0.1\n")
    run_dpo(cfg)
    lines = [json.loads(x) for x in (tmp_path / "dpo" / "metrics.jsonl").read_text().splitlines()]
    acc = [x["rewards/accuracy"] for x in lines if "rewards/accuracy" in x]
    assert sum(acc[-5:]) / 5 > 0.9, acc  # batch 16 of 32 pairs: the last steps cover all
    assert (tmp_path / "dpo" / "model" / "config.json").is_file()


@pytest.mark.slow
def test_sft_learns_on_assistant_tokens(tmp_path, base_dir):
    recs = number_skill(128, seed=2, numbers=range(10))
    cfg = _cfg(tmp_path, base_dir, [_write(tmp_path / "s.jsonl", recs)], "sft", 30, 5e-3)
    res = run_sft(cfg)
    lines = [json.loads(x) for x in (tmp_path / "sft" / "metrics.jsonl").read_text().splitlines()]
    losses = [x["loss"] for x in lines if "loss" in x]
    assert sum(losses[-3:]) / 3 < 0.6 * losses[0], losses
    assert torch.isfinite(torch.tensor(res.loss))
