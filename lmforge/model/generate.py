"""Autoregressive generation with a KV cache: greedy or sampled, batched with left padding."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Sequence

import torch

from lmforge.errors import UserError
from lmforge.model.cache import KVCache
from lmforge.model.transformer import CausalLM


@dataclass
class SamplingParams:
    max_new_tokens: int = 64
    temperature: float = 0.0  # 0 means greedy
    top_k: int = 0
    top_p: float = 1.0
    repetition_penalty: float = 1.0
    stop_token_ids: Sequence[int] = field(default_factory=tuple)
    seed: int | None = None

    def __post_init__(self) -> None:
        if self.max_new_tokens < 0:
            raise UserError(f"max_new_tokens must be >= 0, got {self.max_new_tokens}")
        if self.temperature < 0:
            raise UserError(f"temperature must be >= 0, got {self.temperature}")
        if not 0 < self.top_p <= 1:
            raise UserError(f"top_p must be in (0, 1], got {self.top_p}")
        if self.repetition_penalty <= 0:
            raise UserError(f"repetition_penalty must be > 0, got {self.repetition_penalty}")


def apply_repetition_penalty(logits: torch.Tensor, seen: torch.Tensor, penalty: float) -> torch.Tensor:
    """CTRL-style penalty as transformers applies it: divide positive logits, multiply negative."""
    if penalty == 1.0:
        return logits
    picked = logits.gather(1, seen)
    picked = torch.where(picked > 0, picked / penalty, picked * penalty)
    return logits.scatter(1, seen, picked)


def sample_next(logits: torch.Tensor, p: SamplingParams, generator: torch.Generator | None) -> torch.Tensor:
    """Next token ids (B,) from last-position logits (B, V)."""
    if p.temperature == 0:
        return logits.argmax(-1)
    logits = logits / p.temperature
    if p.top_k > 0:
        kth = torch.topk(logits, min(p.top_k, logits.shape[-1])).values[:, -1, None]
        logits = logits.masked_fill(logits < kth, float("-inf"))
    if p.top_p < 1.0:
        sorted_logits, idx = logits.sort(-1, descending=True)
        cum = sorted_logits.softmax(-1).cumsum(-1)
        drop = cum - sorted_logits.softmax(-1) > p.top_p  # keep the token that crosses top_p
        sorted_logits = sorted_logits.masked_fill(drop, float("-inf"))
        logits = torch.full_like(logits, float("-inf")).scatter(1, idx, sorted_logits)
    probs = logits.softmax(-1)
    return torch.multinomial(probs, 1, generator=generator).squeeze(-1)


@torch.inference_mode()
def generate(model: CausalLM, prompts: Sequence[Sequence[int]], params: SamplingParams | None = None,
             pad_id: int = 0, on_token: Callable[[int, int], None] | None = None,
             use_cache: bool = True) -> list[list[int]]:
    """New tokens for each prompt (stop token included when hit).

    `on_token(row, token_id)` is called as each token is produced (streaming). Without the cache
    the full sequence is recomputed every step (a reference for tests).
    """
    p = params or SamplingParams()
    if not prompts or any(len(x) == 0 for x in prompts):
        raise UserError("every prompt needs at least one token")
    device = next(model.parameters()).device
    generator = None
    if p.seed is not None:
        generator = torch.Generator(device=device).manual_seed(p.seed)
    width = max(len(x) for x in prompts)
    ids = torch.full((len(prompts), width), pad_id, dtype=torch.long, device=device)
    mask = torch.zeros_like(ids)
    for i, x in enumerate(prompts):
        ids[i, width - len(x):] = torch.tensor(list(x), device=device)
        mask[i, width - len(x):] = 1
    stops = torch.tensor(list(p.stop_token_ids) or [-1], device=device)
    cache = KVCache(len(model.model.layers)) if use_cache else None
    out: list[list[int]] = [[] for _ in prompts]
    done = torch.zeros(len(prompts), dtype=torch.bool, device=device)
    step_ids, seq = ids, ids
    for _ in range(p.max_new_tokens):
        if cache is not None:
            logits = model(step_ids, attention_mask=mask, cache=cache)[:, -1].float()
        else:
            logits = model(seq, attention_mask=mask)[:, -1].float()
        logits = apply_repetition_penalty(logits, seq, p.repetition_penalty)
        nxt = sample_next(logits, p, generator)
        nxt = torch.where(done, torch.full_like(nxt, pad_id), nxt)
        for i in (~done).nonzero().flatten().tolist():
            tok = int(nxt[i])
            out[i].append(tok)
            if on_token is not None:
                on_token(i, tok)
        done |= torch.isin(nxt, stops)
        seq = torch.cat([seq, nxt[:, None]], dim=1)
        mask = torch.cat([mask, (~done | torch.isin(nxt, stops)).long()[:, None]], dim=1)
        step_ids = nxt[:, None]
        if bool(done.all()):
            break
    return out
