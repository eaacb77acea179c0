"""Run `lmforge rl ...` (the CLI's main, argv as given) in one process of a torchrun job, with two
probes for tests/rl/test_rl_ddp.py: each rollout's prompts, completions and rewards go to
`OUT/rollouts-rank{R}.jsonl`, and the policy's final weights to `OUT/weights-rank{R}.pt`
(only rank 0 writes the model folder, so this is how the test sees the other rank's weights)."""

import json
import os
import sys
from pathlib import Path

import torch

import lmforge.rl.run as rl_run
from lmforge.cli import main
from lmforge.rl.rollout import RolloutSource

RANK = int(os.environ.get("RANK", "0"))
OUT = Path(next(a.split("=", 1)[1] for a in sys.argv[1:] if a.startswith("out=")))
real_take, real_rollout, real_train = RolloutSource._take, RolloutSource.rollout, rl_run.train


def take(self):
    picked = real_take(self)
    self.probe_answers = [p["answer"] for p in picked]
    return picked


def rollout(self):
    batch, rewards, completions = real_rollout(self)
    rec = {"rollout": self.rollouts, "answers": self.probe_answers, "completions": completions, "rewards": rewards.tolist()}
    with (OUT / f"rollouts-rank{RANK}.jsonl").open("a") as f:
        f.write(json.dumps(rec) + "\n")
    return batch, rewards, completions


def train(model, *args, **kw):
    result = real_train(model, *args, **kw)
    torch.save({k: v.detach().cpu() for k, v in model.state_dict().items()}, OUT / f"weights-rank{RANK}.pt")
    return result


if __name__ == "__main__":
    OUT.mkdir(parents=True, exist_ok=True)
    RolloutSource._take, RolloutSource.rollout, rl_run.train = take, rollout, train
    sys.exit(main(sys.argv[1:]))
