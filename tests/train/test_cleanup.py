"""However training ends (an exception inside a step included), the loop leaves the process
group and closes its progress bar and metrics file."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import textwrap

import pytest

from lmforge.model import build_model, preset
from lmforge.train import trainer
from lmforge.train.config import TrainConfig
from lmforge.train.objectives import causal_lm

from .test_trainer import RandomTokens

TORCHRUN = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--standalone"]


def _tiny_model():
    return build_model(preset("tiny", vocab_size=64, hidden_size=32, intermediate_size=64,
                              num_hidden_layers=1, num_attention_heads=2, num_key_value_heads=1))


class Boom(RuntimeError):
    pass


def raising_at(step: int):
    """An objective that works, then raises inside the forward of optimizer step `step`."""
    calls = []

    def objective(model, batch):
        calls.append(1)
        if len(calls) == step:
            raise Boom(f"objective failed at step {step}")
        return causal_lm(model, batch)
    return objective


def test_an_exception_in_a_step_still_closes_the_bar_and_the_metrics_file(tmp_path, monkeypatch):
    bars, files = [], []

    class Bar(trainer.tqdm):
        def __init__(self, *a, **kw):
            super().__init__(*a, **kw)
            self.closed_by_trainer = False
            bars.append(self)

        def close(self):
            self.closed_by_trainer = True
            super().close()

    real_open = type(tmp_path).open

    def tracking_open(path, *a, **kw):
        f = real_open(path, *a, **kw)
        files.append(f)
        return f

    monkeypatch.setattr(trainer, "tqdm", Bar)
    monkeypatch.setattr(type(tmp_path), "open", tracking_open)
    with pytest.raises(Boom, match="at step 2"):
        trainer.train(_tiny_model(), raising_at(2), RandomTokens(), TrainConfig(max_steps=5, seq_len=16),
                      tmp_path / "run")
    assert len(bars) == 1 and bars[0].closed_by_trainer and bars[0].n == 1  # one step done, then closed
    metrics = [f for f in files if f.name.endswith("metrics.jsonl")]
    assert len(metrics) == 1 and metrics[0].closed
    assert [json.loads(x)["step"] for x in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()] == [1]


WORKER = """
import json, os, sys
import torch
import torch.distributed as dist
sys.path.insert(0, {tests!r})
from tests.train.test_cleanup import Boom, RandomTokens, _tiny_model, raising_at
from lmforge.train.config import TrainConfig
from lmforge.train.trainer import train

out = {{"rank": int(os.environ["RANK"])}}
try:
    train(_tiny_model(), raising_at(2), RandomTokens(), TrainConfig(max_steps=5, seq_len=16,
          distributed={strategy!r}, device="cpu"), {run!r})
except Boom as e:
    out["raised"] = str(e)
out["process_group_left"] = not dist.is_initialized()
print("\\nRESULT " + json.dumps(out), flush=True)
"""


@pytest.mark.slow
@pytest.mark.parametrize("strategy", ["ddp", "fsdp"])
def test_an_exception_under_torchrun_leaves_the_process_group(tmp_path, strategy):
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    script = tmp_path / "worker.py"
    script.write_text(textwrap.dedent(WORKER.format(tests=root, strategy=strategy, run=str(tmp_path / "run"))))
    r = subprocess.run(TORCHRUN + [str(script)], env={**os.environ, "OMP_NUM_THREADS": "1"},
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-3000:]
    # the two ranks share stdout, so a line may hold both results
    results = sorted((json.loads(m) for m in re.findall(r"RESULT (\{[^}]*\})", r.stdout)),
                     key=lambda x: x["rank"])
    assert [x["rank"] for x in results] == [0, 1], r.stdout
    for x in results:
        assert x["raised"] == "objective failed at step 2" and x["process_group_left"], x
