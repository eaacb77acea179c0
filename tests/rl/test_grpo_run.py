"""`lmforge rl` (GRPO) end to end on a toy task: a rule reward's mean rises; the config
refuses what it cannot run; the rollout layout scores exactly the completion tokens."""

import json

import pytest
import torch

from lmforge.rl.rollout import layout
from lmforge.rl.run import RLConfig, run_rl


def _prompts(path, n=16):
    recs = [{"prompt": f"write a number {i}", "answer": str(i)} for i in range(n)]
    path.write_text("".join(json.dumps(r) + "\n" for r in recs))
    return str(path)


def _cfg(tmp_path, base_dir, **train):
    return RLConfig(out=str(tmp_path / "rl"), model=str(base_dir),
                    prompts={"files": [_prompts(tmp_path / "p.jsonl")]},
                    rewards=[{"kind": "regex", "pattern": r"\d"}],
                    grpo={"group": 8, "beta": 0.02}, sampling={"max_new_tokens": 6},
                    train={"batch_size": 16, "lr": 1e-2, "device": "cpu", "grad_clip": 1.0, **train})


def test_layout_labels_only_completion_tokens():
    b = layout([[5, 6], [7]], [[8, 9, 10], [11]], pad_id=0)
    assert b["input_ids"].tolist() == [[5, 6, 8, 9, 10], [0, 7, 11, 0, 0]]
    assert b["attention_mask"].tolist() == [[1, 1, 1, 1, 1], [0, 1, 1, 0, 0]]
    assert b["labels"].tolist() == [[-100, -100, 8, 9, 10], [-100, -100, 11, -100, -100]]


def test_config_checks(tmp_path, base_dir):
    with pytest.raises(ValueError, match="multiple of grpo.group"):
        _cfg(tmp_path, base_dir, batch_size=12)
    with pytest.raises(ValueError, match="fsdp"):
        _cfg(tmp_path, base_dir, distributed="fsdp")
    with pytest.raises(ValueError, match="pattern"):
        RLConfig(out="x", model=str(base_dir), prompts={"files": [_prompts(tmp_path / "q.jsonl")]},
                 rewards=[{"kind": "regex"}])


@pytest.mark.slow
def test_grpo_raises_a_rule_reward(tmp_path, base_dir):
    """A random tiny model rarely writes a digit; GRPO with the regex reward `\\d` makes it
    write one in most completions within 30 steps, while the KL to the start model stays finite."""
    torch.manual_seed(0)
    res = run_rl(_cfg(tmp_path, base_dir, max_steps=30))
    rows = [json.loads(x) for x in (tmp_path / "rl" / "metrics.jsonl").read_text().splitlines()]
    print(f"reward first 5 steps {res.reward_first:.3f} -> last 5 {res.reward_last:.3f}, kl {res.kl_last:.4f}")
    assert res.reward_last > res.reward_first + 0.3
    assert all("kl" in r and "reward_regex" in r and "clip_ratio" in r for r in rows)
    assert (res.model_dir / "config.json").is_file() and (res.model_dir / "tokenizer.json").is_file()


def test_resumed_run_matches_an_uninterrupted_one(tmp_path, base_dir):
    """Stop after 2 steps (checkpoint), resume to 4: the same weights as 4 steps in one go (the
    rollouts' prompt position and sampling seed come back from the checkpoint)."""
    from lmforge.model.io import read_weights

    def cfg(out, steps):
        c = _cfg(tmp_path, base_dir, max_steps=steps, schedule="constant", save_every=2, batch_size=8)
        return c.model_copy(update={"out": str(tmp_path / out), "grpo": c.grpo.model_copy(update={"group": 4})})

    whole = run_rl(cfg("whole", 4))
    run_rl(cfg("split", 2))
    resumed = run_rl(cfg("split", 4))
    a, b = read_weights(whole.model_dir), read_weights(resumed.model_dir)
    assert resumed.train.step == 4 and sorted(a) == sorted(b)
    assert max((a[k] - b[k]).abs().max().item() for k in a) == 0.0
    base = read_weights(base_dir)
    assert max((a[k] - base[k]).abs().max().item() for k in a) > 1e-3  # it did train
    rows = {k: [json.loads(x) for x in (tmp_path / k / "metrics.jsonl").read_text().splitlines()]
            for k in ("whole", "split")}
    assert [r["step"] for r in rows["split"]] == [1, 2, 3, 4]
    assert [(r["reward"], r["loss"]) for r in rows["split"]] == [(r["reward"], r["loss"]) for r in rows["whole"]]
