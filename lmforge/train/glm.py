"""GLM blank infilling (Du et al. 2022), the pretraining objective of ChatGLM.

Spans of the input are cut out (Poisson lengths, or whole sentences, or one long span of the
document) and each is replaced by one [MASK] in Part A; Part B lists the spans in random order,
each as [sop] + span, predicting span + [eop]. Part A attends to itself bidirectionally, Part B
attends to Part A and causally to itself. Positions are 2D: the first id is the position in
Part A (for a Part B token: its span's [MASK] position), the second the position inside the span
(0 in Part A).
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any, Literal, Sequence

import numpy as np
import torch
import torch.nn.functional as F

from lmforge.errors import UserError

IGNORE = -100


@dataclass(frozen=True)
class GLMTokens:
    mask: int
    sop: int
    eop: int
    pad: int = 0


@dataclass
class GLMExample:
    input_ids: list[int]
    position_ids: list[list[int]]  # [positions in Part A, positions inside spans]
    targets: list[int]  # what each position predicts (IGNORE in Part A)
    part_a_len: int


def sample_spans(n: int, rng: random.Random, mode: Literal["token", "sentence", "document"],
                 mask_ratio: float = 0.15, poisson_lambda: float = 3.0,
                 sentence_ends: Sequence[int] = ()) -> list[tuple[int, int]]:
    """Non-overlapping sorted (start, end) spans covering about `mask_ratio` of n tokens."""
    if n < 2:
        raise UserError("GLM needs sequences of at least 2 tokens")
    if mode == "document":  # one span of 50%-100% of the document's end
        length = max(1, int(n * rng.uniform(0.5, 1.0)))
        return [(n - length, n)]
    if mode == "sentence":
        bounds, start = [], 0
        for end in sorted(set(e for e in sentence_ends if 0 < e <= n)) + [n]:
            if end > start:
                bounds.append((start, end))
                start = end
        rng.shuffle(bounds)
        chosen, covered = [], 0
        for s, e in bounds:
            if covered >= mask_ratio * n:
                break
            chosen.append((s, e))
            covered += e - s
        return sorted(chosen)
    budget = max(1, round(mask_ratio * n))
    np_rng = np.random.default_rng(rng.randrange(2**32))
    lengths = []
    while sum(lengths) < budget:
        lengths.append(int(min(max(1, np_rng.poisson(poisson_lambda)), budget - sum(lengths))))
    # place spans left to right with random gaps (each gap >= 1 keeps spans separate)
    free = n - sum(lengths) - (len(lengths) - 1)
    if free < 0:
        lengths = lengths[: max(1, len(lengths) // 2)]
        free = max(0, n - sum(lengths) - (len(lengths) - 1))
    cuts = sorted(rng.randint(0, free) for _ in lengths)
    spans, pos, prev = [], 0, 0
    for length, cut in zip(lengths, cuts):
        pos += cut - prev
        prev = cut
        spans.append((pos, pos + length))
        pos += length + 1
    return spans


def build_example(tokens: Sequence[int], spans: list[tuple[int, int]], ids: GLMTokens,
                  rng: random.Random) -> GLMExample:
    part_a, mask_pos, cursor = [], [], 0
    for s, e in spans:
        part_a.extend(tokens[cursor:s])
        mask_pos.append(len(part_a))
        part_a.append(ids.mask)
        cursor = e
    part_a.extend(tokens[cursor:])
    n_a = len(part_a)
    inputs, pos1, pos2 = list(part_a), list(range(n_a)), [0] * n_a
    targets = [IGNORE] * n_a
    order = list(range(len(spans)))
    rng.shuffle(order)
    for k in order:
        s, e = spans[k]
        span = list(tokens[s:e])
        inputs += [ids.sop] + span
        targets += span + [ids.eop]
        pos1 += [mask_pos[k]] * (len(span) + 1)
        pos2 += list(range(1, len(span) + 2))
    return GLMExample(inputs, [pos1, pos2], targets, n_a)


def attention_mask(part_a_len: int, total: int, padded: int | None = None) -> torch.Tensor:
    """(padded, padded) bool: query i may see key j. Part A bidirectional, Part B causal."""
    size = padded or total
    idx = torch.arange(size)
    causal = idx[None, :] <= idx[:, None]
    mask = causal | (idx[None, :] < part_a_len)
    mask &= idx[None, :] < total  # never attend to padding
    return mask | torch.eye(size, dtype=torch.bool)  # padded rows see themselves (no NaN)


def collate(examples: list[GLMExample], pad: int) -> dict[str, torch.Tensor]:
    width = max(len(x.input_ids) for x in examples)
    b = len(examples)
    input_ids = torch.full((b, width), pad, dtype=torch.long)
    targets = torch.full((b, width), IGNORE, dtype=torch.long)
    positions = torch.zeros((b, 2, width), dtype=torch.long)
    masks = torch.zeros((b, 1, width, width), dtype=torch.bool)
    for i, x in enumerate(examples):
        n = len(x.input_ids)
        input_ids[i, :n] = torch.tensor(x.input_ids)
        targets[i, :n] = torch.tensor(x.targets)
        positions[i, :, :n] = torch.tensor(x.position_ids)
        masks[i, 0] = attention_mask(x.part_a_len, n, width)
    return {"input_ids": input_ids, "targets": targets, "position_ids": positions,
            "attention_mask": masks}


def glm_objective(model, batch: dict[str, torch.Tensor]) -> tuple[torch.Tensor, dict[str, float]]:
    """Cross-entropy on Part B targets, and the token accuracy of the infilled spans."""
    logits = model(batch["input_ids"], attention_mask=batch["attention_mask"],
                   position_ids=batch["position_ids"])
    targets = batch["targets"]
    loss = F.cross_entropy(logits.float().reshape(-1, logits.shape[-1]), targets.reshape(-1),
                           ignore_index=IGNORE)
    keep = targets != IGNORE
    acc = (logits.argmax(-1)[keep] == targets[keep]).float().mean()
    return loss, {"infill_acc": float(acc)}


class GLMBatches:
    """Turns a causal-LM batch source into GLM blank-infilling batches (BatchSource protocol)."""

    def __init__(self, base: Any, ids: GLMTokens, seed: int = 0,
                 mode: Literal["token", "sentence", "document"] = "token", mask_ratio: float = 0.15,
                 poisson_lambda: float = 3.0, sentence_end_ids: Sequence[int] = ()):
        self.base, self.ids, self.mode = base, ids, mode
        self.mask_ratio, self.poisson_lambda = mask_ratio, poisson_lambda
        self.sentence_end_ids = set(sentence_end_ids)
        self.rng = random.Random(seed)

    def convert(self, rows: torch.Tensor) -> dict[str, torch.Tensor]:
        examples = []
        for row in rows.tolist():
            ends = [i + 1 for i, t in enumerate(row) if t in self.sentence_end_ids]
            spans = sample_spans(len(row), self.rng, self.mode, self.mask_ratio,
                                 self.poisson_lambda, ends)
            examples.append(build_example(row, spans, self.ids, self.rng))
        return collate(examples, self.ids.pad)

    def next_batch(self) -> dict[str, torch.Tensor]:
        return self.convert(self.base.next_batch()["input_ids"])

    def state_dict(self) -> dict[str, Any]:
        return {"base": self.base.state_dict(), "rng": self.rng.getstate()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.base.load_state_dict(state["base"])
        version, internal, gauss = state["rng"]
        self.rng.setstate((version, tuple(internal), gauss))
