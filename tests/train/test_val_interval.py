"""The training loop's evaluation logs its n (batches, tokens) and a 95% interval of the validation
loss (Student's t over the per-batch mean losses), from the same forward passes as the mean."""

from __future__ import annotations

import math
from contextlib import nullcontext
from types import SimpleNamespace

import pytest
import torch

from lmforge.train.trainer import _eval_into


def _run(eval_batches: int) -> SimpleNamespace:
    calls = []

    def objective(model, batch):
        calls.append(1)
        return batch["loss"], {"acc": float(batch["loss"]) / 10}

    return SimpleNamespace(model=torch.nn.Linear(1, 1), objective=objective, device=torch.device("cpu"),
                           autocast=nullcontext, cfg=SimpleNamespace(eval_batches=eval_batches),
                           strategy=SimpleNamespace(mean=lambda v: v, world_size=1), val_loss=None, calls=calls)


BATCHES = [{"input_ids": torch.zeros(2, 8, dtype=torch.long), "loss": torch.tensor(v)} for v in (1.0, 2.0, 3.0, 9.0)]


def test_val_loss_row_has_n_and_the_t_interval_by_hand():
    run, row = _run(3), {}
    _eval_into(run, row, lambda: iter(BATCHES))
    # the first 3 batches: losses 1, 2, 3: mean 2, sd 1, t(0.975, df 2) = 4.302653 -> 2 +- 4.302653 / sqrt(3)
    half = 4.302653 / math.sqrt(3)
    assert row == {"val_loss": 2.0, "val_batches": 3, "val_tokens": 3 * 16, "val_acc": pytest.approx(0.2),
                   "val_loss_ci95_lo": pytest.approx(2 - half, rel=1e-6),
                   "val_loss_ci95_hi": pytest.approx(2 + half, rel=1e-6)}
    assert run.val_loss == 2.0 and len(run.calls) == 3  # one forward pass per batch, none extra


def test_one_validation_batch_has_no_interval():
    run, row = _run(1), {}
    _eval_into(run, row, lambda: iter(BATCHES))
    assert row == {"val_loss": 1.0, "val_batches": 1, "val_tokens": 16, "val_acc": pytest.approx(0.1)}
