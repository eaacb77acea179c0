"""Training batches from packed shards: weighted mixtures, curricula, exact resume, rank sharding.

Each row of a global batch is a window of `seq_len` tokens from one source. Sources are picked
by deficit round-robin (the source furthest below its weighted share goes next), so shares are
exact to within one row; window positions are random from (seed, batch index). The state is a
few counters, so a resumed loader yields the identical stream. Rank r of W takes rows
[r*B, (r+1)*B) of each global batch of W*B rows: one process with batch W*B sees the same data.
"""

from __future__ import annotations

import sys
from typing import Any, Iterator

import numpy as np
import torch
from pydantic import BaseModel, ConfigDict, Field

from lmforge.errors import UserError
from lmforge.tokens.pack import load_tokens, read_manifest


class StageSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")
    tokens: int | None = Field(None, gt=0, description="token budget of this stage (None: until the end)")
    weights: dict[str, float]


class DataConfig(BaseModel):
    """The `data:` section of a training config."""

    model_config = ConfigDict(extra="forbid")
    path: str = Field(description="packed data folder (lmforge data pack)")
    weights: dict[str, float] = Field(default_factory=dict,
                                      description="source -> weight (default: by size)")
    stages: list[StageSpec] = Field(default_factory=list, description="curriculum stages, in order")


def val_shortfall(manifest: dict[str, Any], source: str, seq_len: int) -> int:
    """How many training tokens (from its end) a source lends its validation split so that the
    split holds at least one window of seq_len+1 tokens (0 when it already does)."""
    tokens = manifest["sources"][source]["tokens"]
    short = max(0, seq_len + 1 - int(tokens["val"]))
    return short if int(tokens["train"]) > short else 0


class TokenLoader:
    def __init__(self, cfg: DataConfig, seq_len: int, batch_size: int, seed: int = 0,
                 rank: int = 0, world_size: int = 1, split: str = "train"):
        self.cfg, self.seq_len, self.batch_size = cfg, seq_len, batch_size
        self.seed, self.rank, self.world_size, self.split = seed, rank, world_size, split
        manifest = read_manifest(cfg.path)
        self.sources = list(manifest["sources"])
        self.eos_id = manifest.get("eos_id")  # ends each packed document (train.document_mask)
        wanted = set(cfg.weights) | {s for st in cfg.stages for s in st.weights}
        unknown = wanted - set(self.sources)
        if unknown:
            raise UserError(f"data: unknown source(s) {sorted(unknown)} in {cfg.path}; "
                             f"sources: {', '.join(self.sources)}")
        self.tokens = {s: self._split_tokens(manifest, s) for s in self.sources}
        if split == "train":
            self._check_sizes(manifest)
        self.batch_index = 0
        self.rows_by_source = {s: 0 for s in self.sources}
        self.val_cursor = 0

    def _split_tokens(self, manifest: dict[str, Any], source: str) -> np.ndarray:
        """The source's tokens of this split; a validation split shorter than seq_len+1 is
        topped up with the end of the training split, which training then leaves out."""
        train = load_tokens(self.cfg.path, source, "train")
        short = val_shortfall(manifest, source, self.seq_len)
        if self.split == "train":
            return train[:len(train) - short]
        val = load_tokens(self.cfg.path, source, self.split)
        if not short:
            return val
        print(f"{self.cfg.path}: source {source!r} has {len(val)} validation tokens, fewer than seq_len+1 = "
              f"{self.seq_len + 1}; validating on them plus the last {short} training tokens (left out of "
              "training)", file=sys.stderr)
        return np.concatenate([np.asarray(val), np.asarray(train[len(train) - short:])])

    def _check_sizes(self, manifest: dict[str, Any]) -> None:
        """Every source the weights name holds a window (without weights: at least one source)."""
        weights = self._all_weights()
        used = {s for w in weights for s, v in w.items() if v} or set(self.sources)
        for s in self.sources:
            if s in used and len(self.tokens[s]) <= self.seq_len:
                raise UserError(f"{self.cfg.path}: source {s!r} has {len(self.tokens[s])} training tokens, fewer "
                                f"than seq_len+1 = {self.seq_len + 1} (after lending "
                                f"{val_shortfall(manifest, s, self.seq_len)} to validation): add text to it, "
                                "lower train.seq_len, or drop it from data.weights")

    def _all_weights(self) -> list[dict[str, float]]:
        if self.cfg.stages:
            return [st.weights for st in self.cfg.stages]
        if self.cfg.weights:
            return [self.cfg.weights]
        return [{s: float(len(t)) for s, t in self.tokens.items() if len(t) > self.seq_len}]

    def stage(self) -> int:
        """Index of the curriculum stage the next batch belongs to."""
        seen = sum(self.rows_by_source.values()) * self.seq_len
        budget = 0
        for i, st in enumerate(self.cfg.stages):
            if st.tokens is None:
                return i
            budget += st.tokens
            if seen < budget:
                return i
        return max(0, len(self.cfg.stages) - 1)

    def _weights(self) -> dict[str, float]:
        w = self._all_weights()[self.stage() if self.cfg.stages else 0]
        total = sum(v for v in w.values() if v > 0)
        if total <= 0:
            raise UserError("data: weights must include a positive value")
        return {s: v / total for s, v in w.items() if v > 0}

    def _pick_source(self, counts: dict[str, int], weights: dict[str, float], stage_rows: int) -> str:
        return max(weights, key=lambda s: (weights[s] * (stage_rows + 1) - counts[s], -self.sources.index(s)))

    def next_batch(self) -> dict[str, torch.Tensor]:
        if self.split != "train":
            return self._next_val()
        rng = np.random.default_rng([self.seed, self.batch_index])
        rows = []
        for _ in range(self.batch_size * self.world_size):
            weights = self._weights()
            stage_counts = self._stage_counts()
            s = self._pick_source(stage_counts, weights, sum(stage_counts.values()))
            arr = self.tokens[s]
            start = int(rng.integers(0, len(arr) - self.seq_len))
            rows.append(np.asarray(arr[start:start + self.seq_len], dtype=np.int64))
            self.rows_by_source[s] += 1
        self.batch_index += 1
        mine = rows[self.rank * self.batch_size:(self.rank + 1) * self.batch_size]
        ids = torch.from_numpy(np.stack(mine))
        return {"input_ids": ids, "labels": ids.clone()}

    def _stage_counts(self) -> dict[str, int]:
        """Rows per source within the current stage (a new stage starts its shares afresh)."""
        if not self.cfg.stages:
            return dict(self.rows_by_source)
        if not hasattr(self, "_stage_start") or self._stage_start[0] != self.stage():
            self._stage_start = (self.stage(), dict(self.rows_by_source))
        start = self._stage_start[1]
        return {s: self.rows_by_source[s] - start.get(s, 0) for s in self.sources}

    def _next_val(self) -> dict[str, torch.Tensor]:
        """Validation windows in a fixed order: every source's val tokens, round robin."""
        sources = [s for s in self.sources if len(self.tokens[s]) > self.seq_len]
        if not sources:
            raise UserError(f"{self.cfg.path}: no source has seq_len+1 = {self.seq_len + 1} validation tokens")
        rows = []
        for _ in range(self.batch_size):
            s = sources[self.val_cursor % len(sources)]
            arr = self.tokens[s]
            n_windows = max(1, (len(arr) - 1) // self.seq_len)
            w = (self.val_cursor // len(sources)) % n_windows
            rows.append(np.asarray(arr[w * self.seq_len:(w + 1) * self.seq_len], dtype=np.int64))
            self.val_cursor += 1
        ids = torch.from_numpy(np.stack(rows))
        return {"input_ids": ids, "labels": ids.clone()}

    def eval_batches(self, limit: int) -> Iterator[dict[str, torch.Tensor]]:
        """The same `limit` validation batches every call."""
        self.val_cursor = 0
        for _ in range(limit):
            yield self._next_val()

    def tokens_seen(self) -> dict[str, int]:
        return {s: n * self.seq_len for s, n in self.rows_by_source.items()}

    def state_dict(self) -> dict[str, Any]:
        state = {"batch_index": self.batch_index, "rows_by_source": dict(self.rows_by_source)}
        if hasattr(self, "_stage_start"):
            state["stage_start"] = [self._stage_start[0], dict(self._stage_start[1])]
        return state

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.batch_index = state["batch_index"]
        self.rows_by_source = dict(state["rows_by_source"])
        if "stage_start" in state:
            self._stage_start = (state["stage_start"][0], dict(state["stage_start"][1]))
