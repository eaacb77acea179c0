"""`lmforge rl` under torchrun, 2 CPU processes (gloo): each process draws its own prompts (the
two together draw what one process with twice the batch draws), samples its own completions,
DDP keeps the weights identical on both, and the logged reward is the global batch's mean."""

import json
import os
import subprocess
import sys

import pytest
import torch
import yaml

from lmforge.model.io import read_weights
from lmforge.rl.rollout import RolloutSource
from tests.rl.test_grpo_run import _prompts

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PROBE = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--standalone",
         os.path.join(os.path.dirname(__file__), "ddp_probe.py")]


def _rows(path):
    return [json.loads(x) for x in path.read_text().splitlines()]


@pytest.mark.slow
def test_two_processes_split_the_prompts_and_keep_identical_weights(tmp_path, base_dir):
    cfg = {"model": str(base_dir), "out": str(tmp_path / "rl"), "prompts": {"files": [_prompts(tmp_path / "p.jsonl")]},
           "rewards": [{"kind": "regex", "pattern": r"\d"}], "grpo": {"group": 4, "beta": 0.04},
           "sampling": {"max_new_tokens": 6},
           "train": {"batch_size": 8, "max_steps": 3, "lr": 1e-2, "device": "cpu", "distributed": "ddp"}}
    (tmp_path / "rl.yaml").write_text(yaml.safe_dump(cfg))
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": ROOT}
    r = subprocess.run(PROBE + ["rl", str(tmp_path / "rl.yaml"), f"out={tmp_path / 'rl'}"], env=env,
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr[-3000:]
    out = tmp_path / "rl"

    w0, w1 = (torch.load(out / f"weights-rank{i}.pt") for i in (0, 1))
    saved, base = read_weights(out / "model"), read_weights(base_dir)
    assert sorted(w0) == sorted(w1) and all(torch.equal(w0[k], w1[k]) for k in w0)  # DDP: one model
    assert all(torch.equal(saved[k], w0[k]) for k in saved)
    assert max((saved[k] - base[k]).abs().max().item() for k in saved) > 1e-3  # it trained

    ranks = [_rows(out / f"rollouts-rank{i}.jsonl") for i in (0, 1)]
    assert [len(x) for x in ranks] == [3, 3]
    one = RolloutSource(None, None, None, [{"answer": str(i)} for i in range(16)], None, 4, 16, None, seed=0)
    metrics = _rows(out / "metrics.jsonl")
    for step, (a, b) in enumerate(zip(*ranks)):
        assert len(a["answers"]) == len(b["answers"]) == 2 and not set(a["answers"]) & set(b["answers"])
        assert a["answers"] + b["answers"] == [p["answer"] for p in one._take()]  # = one process, batch 16
        assert a["completions"] != b["completions"]  # each rank samples its own (seed per rank)
        both = torch.tensor(a["rewards"] + b["rewards"])
        assert metrics[step]["reward"] == pytest.approx(both.mean().item(), abs=1e-6)  # the global batch's
        assert metrics[step]["reward_std"] == pytest.approx(both.std().item(), abs=1e-6)
