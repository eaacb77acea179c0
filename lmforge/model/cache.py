"""Key/value cache for incremental decoding."""

from __future__ import annotations

import torch


class KVCache:
    """Per-layer keys and values of the tokens seen so far, shape (B, kv_heads, T, head_dim)."""

    def __init__(self, num_layers: int):
        self.keys: list[torch.Tensor | None] = [None] * num_layers
        self.values: list[torch.Tensor | None] = [None] * num_layers
        self.length = 0
        self.frozen = False  # update() returns the extended keys/values but keeps the cache as is

    def update(self, layer: int, k: torch.Tensor, v: torch.Tensor):
        if self.keys[layer] is not None:
            k = torch.cat([self.keys[layer], k], dim=2)
            v = torch.cat([self.values[layer], v], dim=2)
        if not self.frozen:
            self.keys[layer], self.values[layer] = k, v
        return k, v

    def advance(self, n: int) -> None:
        self.length += n

    def select(self, rows: torch.Tensor) -> None:
        """Keep only the given batch rows (drop finished sequences)."""
        self.keys = [k[rows] if k is not None else None for k in self.keys]
        self.values = [v[rows] if v is not None else None for v in self.values]

    def expand(self, batch: int) -> KVCache:
        """A read-only cache of `batch` rows that all continue this one-row cache (a shared prompt
        prefix, scored once): the prefix's tensors are viewed, not copied, and each layer's
        extension lives only while that layer runs."""
        out = KVCache(len(self.keys))
        out.keys = [k.expand(batch, -1, -1, -1) if k is not None else None for k in self.keys]
        out.values = [v.expand(batch, -1, -1, -1) if v is not None else None for v in self.values]
        out.length, out.frozen = self.length, True
        return out
