from __future__ import annotations

import os
import subprocess
import sys

import pytest

from .conftest import CLI, read_losses as losses

TORCHRUN = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2",
            "--standalone", "-m", "lmforge"]


@pytest.mark.slow
@pytest.mark.parametrize("strategy", ["ddp", "fsdp"])
def test_two_processes_match_one_with_the_same_global_batch(write_config, tmp_path, strategy):
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    cfg = write_config(max_steps=6, eval_every=0, distributed=strategy, global_batch_tokens=512)  # 2 micro-batches
    subprocess.run(CLI + ["pretrain", str(cfg), f"out={tmp_path / 'one'}", "train.batch_size=4"],
                   check=True, env=env, capture_output=True)
    r = subprocess.run(TORCHRUN + ["pretrain", str(cfg), f"out={tmp_path / 'two'}", "train.batch_size=2"],
                       env=env, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr[-3000:]
    one, two = losses(tmp_path / "one"), losses(tmp_path / "two")
    assert one.keys() == two.keys()
    assert all(abs(one[k] - two[k]) < 1e-5 for k in one), (one, two)
