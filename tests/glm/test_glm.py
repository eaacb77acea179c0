"""GLM blank infilling: the paper's worked example, and that a tiny model learns to infill."""

from __future__ import annotations

import random

import pytest
import torch

from lmforge.train.glm import (IGNORE, GLMBatches, GLMTokens, attention_mask, build_example,
                               collate, glm_objective, sample_spans)

IDS = GLMTokens(mask=90, sop=91, eop=92, pad=0)


class ReverseRng(random.Random):
    def shuffle(self, x):  # the paper's figure lists span 2 before span 1
        x.reverse()


def test_paper_worked_example():
    x = [11, 12, 13, 14, 15, 16]  # x1..x6; spans {x3} and {x5, x6}
    ex = build_example(x, [(2, 3), (4, 6)], IDS, ReverseRng(0))
    M, S, E = IDS.mask, IDS.sop, IDS.eop
    assert ex.input_ids == [11, 12, M, 14, M, S, 15, 16, S, 13]
    assert ex.targets == [IGNORE] * 5 + [15, 16, E, 13, E]
    # the paper's Figure 2 positions, 0-based: Position 1 = 1 2 3 4 5 5 5 5 3 3, Position 2 = 0..0 1 2 3 1 2
    assert ex.position_ids[0] == [0, 1, 2, 3, 4, 4, 4, 4, 2, 2]
    assert ex.position_ids[1] == [0, 0, 0, 0, 0, 1, 2, 3, 1, 2]
    m = attention_mask(ex.part_a_len, len(ex.input_ids))
    assert m[:5, :5].all() and not m[:5, 5:].any()  # Part A: bidirectional, blind to Part B
    assert m[5:, :5].all()  # Part B sees all of Part A
    assert torch.equal(m[5:, 5:], torch.tril(torch.ones(5, 5, dtype=torch.bool)))  # causal in B


def test_span_sampling_modes():
    rng = random.Random(0)
    for _ in range(50):
        spans = sample_spans(100, rng, "token", mask_ratio=0.15)
        assert sum(e - s for s, e in spans) == 15
        assert all(a[1] < b[0] for a, b in zip(spans, spans[1:]))  # separate, sorted
        assert all(0 <= s < e <= 100 for s, e in spans)
    (s, e), = sample_spans(40, rng, "document")
    assert e == 40 and 20 <= e - s <= 40
    spans = sample_spans(30, rng, "sentence", mask_ratio=0.2, sentence_ends=[10, 20])
    assert all((s, e) in [(0, 10), (10, 20), (20, 30)] for s, e in spans) and spans


def test_padded_batch_masks_and_objective(tiny_model):
    rng = random.Random(1)
    exs = [build_example(list(range(20, 20 + n)), sample_spans(n, rng, "token"), IDS, rng)
           for n in (12, 30)]
    batch = collate(exs, IDS.pad)
    assert batch["position_ids"].shape == (2, 2, batch["input_ids"].shape[1])
    loss, metrics = glm_objective(tiny_model, batch)
    assert torch.isfinite(loss) and 0 <= metrics["infill_acc"] <= 1
    loss.backward()
    assert tiny_model.model.embed_tokens.weight.grad is not None


class FixedRows:
    def __init__(self, rows):
        self.rows, self.i = rows, 0

    def next_batch(self):
        self.i += 1
        return {"input_ids": self.rows}

    def state_dict(self):
        return {"i": self.i}

    def load_state_dict(self, s):
        self.i = s["i"]


def test_batches_resume_identically():
    rows = torch.randint(20, 80, (2, 32), generator=torch.Generator().manual_seed(0))
    a = GLMBatches(FixedRows(rows), IDS, seed=3)
    a.next_batch()
    state = a.state_dict()
    expected = a.next_batch()
    b = GLMBatches(FixedRows(rows), IDS, seed=99)
    b.load_state_dict(state)
    got = b.next_batch()
    assert all(torch.equal(expected[k], got[k]) for k in expected)
