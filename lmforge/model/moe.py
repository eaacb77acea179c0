"""Mixtral-style sparse MoE feed-forward: a softmax router picks the top-k of E SwiGLU experts per
token (weights renormalised over the k), plus the Switch/Mixtral load-balancing loss.

Names match transformers' Mixtral checkpoints (`block_sparse_moe.gate`, `experts.N.w1|w2|w3`).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from lmforge.model.config import ModelConfig
from lmforge.model.activations import ACTIVATIONS


class Expert(nn.Module):
    def __init__(self, cfg: ModelConfig):
        super().__init__()
        h, i = cfg.hidden_size, cfg.intermediate_size
        self.w1 = nn.Linear(h, i, bias=False)  # gate
        self.w2 = nn.Linear(i, h, bias=False)  # down
        self.w3 = nn.Linear(h, i, bias=False)  # up
        self.act = ACTIVATIONS[cfg.hidden_act]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.w2(self.act(self.w1(x)) * self.w3(x))


class SparseMoeBlock(nn.Module):
    """Top-k routing over E experts. `capacity_factor` (None = no limit) caps each expert at
    ceil(factor * tokens * k / E) assignments; overflow assignments are dropped (Switch)."""

    def __init__(self, cfg: ModelConfig, capacity_factor: float | None = None):
        super().__init__()
        self.num_experts = cfg.num_local_experts
        self.top_k = cfg.num_experts_per_tok
        self.capacity_factor = capacity_factor
        self.gate = nn.Linear(cfg.hidden_size, self.num_experts, bias=False)
        self.experts = nn.ModuleList(Expert(cfg) for _ in range(self.num_experts))
        self.last_aux_loss: torch.Tensor | None = None

    def load_balancing_loss(self, probs: torch.Tensor, idx: torch.Tensor) -> torch.Tensor:
        """E * sum_e f_e * P_e: f = share of routed slots, P = mean router probability."""
        f = F.one_hot(idx, self.num_experts).float().mean(0)  # (k, E)
        return self.num_experts * (f * probs.mean(0)).sum()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        shape = x.shape
        x = x.reshape(-1, shape[-1])
        probs = F.softmax(self.gate(x).float(), dim=-1)
        weights, idx = torch.topk(probs, self.top_k, dim=-1)
        weights = (weights / weights.sum(-1, keepdim=True)).to(x.dtype)
        self.last_aux_loss = self.load_balancing_loss(probs, idx) if self.training else None
        out = torch.zeros_like(x)
        capacity = None
        if self.capacity_factor is not None:
            capacity = max(1, int(-(-self.capacity_factor * x.shape[0] * self.top_k // self.num_experts)))
        for e, expert in enumerate(self.experts):
            tok, slot = torch.where(idx == e)
            if capacity is not None:
                tok, slot = tok[:capacity], slot[:capacity]
            if tok.numel():
                out.index_add_(0, tok, expert(x[tok]) * weights[tok, slot, None])
        return out.reshape(shape)
