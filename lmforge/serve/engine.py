"""Continuous batching: one background thread decodes every active request together, one token
per step, over a shared left-padded KV cache; requests join (after their own prefill) and leave
between steps, so a long answer never blocks a short one."""

from __future__ import annotations

import queue
import threading
from dataclasses import dataclass, field
from typing import Callable, Sequence

import torch

from lmforge.model.cache import KVCache
from lmforge.model.generate import SamplingParams, sample_next
from lmforge.model.transformer import CausalLM

# emit(token_id, finish_reason): token_id None with a reason ("stop"/"length"/"error: ...") ends it
Emit = Callable[[int | None, str | None], None]


@dataclass
class Request:
    prompt: Sequence[int]
    params: SamplingParams
    emit: Emit
    cancelled: bool = False
    generated: list[int] = field(default_factory=list)
    generator: torch.Generator | None = None

    def cancel(self) -> None:
        self.cancelled = True


class Engine:
    """Owns the model; `submit` is thread-safe, tokens come back through each request's emit."""

    def __init__(self, model: CausalLM, max_batch: int = 32):
        self.model = model
        self.max_batch = max_batch
        self.device = next(model.parameters()).device
        self.incoming: queue.Queue[Request] = queue.Queue()
        self.active: list[Request] = []
        self.cache: KVCache | None = None
        self.mask: torch.Tensor | None = None  # (B, cache length) 1 on real tokens
        self.last: torch.Tensor | None = None  # (B,) token each row feeds next
        self.steps = 0
        self.peak_batch = 0  # most requests decoded together so far
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="lmforge-engine", daemon=True)
        self._thread.start()

    def submit(self, req: Request) -> Request:
        if req.params.seed is not None:
            req.generator = torch.Generator(device=self.device).manual_seed(req.params.seed)
        self.incoming.put(req)
        return req

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=10)

    # ---- the loop ----------------------------------------------------------------------------
    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self._admit()
                if self.active:
                    self._step()
            except Exception as e:  # never let the thread die silently: fail the batch, go on
                for r in self.active:
                    r.emit(None, f"error: {type(e).__name__}: {e}")
                self.active, self.cache = [], None

    def _admit(self) -> None:
        block = not self.active
        while len(self.active) < self.max_batch:
            try:
                req = self.incoming.get(timeout=0.05) if block else self.incoming.get_nowait()
            except queue.Empty:
                return
            block = False
            if req.cancelled:
                continue
            if req.params.max_new_tokens == 0:
                req.emit(None, "length")
                continue
            self._prefill(req)

    @torch.inference_mode()
    def _prefill(self, req: Request) -> None:
        cache = KVCache(len(self.model.model.layers))
        ids = torch.tensor([list(req.prompt)], device=self.device)
        logits = self.model(ids, cache=cache)[:, -1].float()
        mask = torch.ones(1, ids.shape[1], dtype=torch.long, device=self.device)
        self._join(req, cache, mask)
        self._take(len(self.active) - 1, logits[0])

    def _join(self, req: Request, cache: KVCache, mask: torch.Tensor) -> None:
        """Append one prefilled row to the batch, left-padding whichever side is shorter."""
        if self.cache is None:
            self.cache, self.mask, self.active = cache, mask, [req]
            self.last = torch.zeros(1, dtype=torch.long, device=self.device)
            return
        old, new = self.mask.shape[1], mask.shape[1]
        width = max(old, new)

        def pad(t: torch.Tensor, n: int) -> torch.Tensor:  # left-pad the time axis (dim 2 or 1)
            if n == 0:
                return t
            dim = 2 if t.dim() == 4 else 1
            shape = list(t.shape)
            shape[dim] = n
            return torch.cat([torch.zeros(shape, dtype=t.dtype, device=t.device), t], dim=dim)

        for layer in range(len(self.cache.keys)):
            for store, add in ((self.cache.keys, cache.keys), (self.cache.values, cache.values)):
                store[layer] = torch.cat([pad(store[layer], width - old), pad(add[layer], width - new)])
        self.mask = torch.cat([pad(self.mask, width - old), pad(mask, width - new)])
        self.cache.length = width
        self.last = torch.cat([self.last, self.last.new_zeros(1)])
        self.active.append(req)

    def _take(self, row: int, logits: torch.Tensor) -> None:
        """Sample row's next token, emit it, remember it as the row's next input."""
        req = self.active[row]
        tok = int(sample_next(logits[None], req.params, req.generator)[0])
        req.generated.append(tok)
        self.last[row] = tok
        req.emit(tok, None)

    @torch.inference_mode()
    def _step(self) -> None:
        self._evict()
        if not self.active:
            return
        self.mask = torch.cat([self.mask, torch.ones_like(self.mask[:, :1])], dim=1)
        self.peak_batch = max(self.peak_batch, len(self.active))
        logits = self.model(self.last[:, None], attention_mask=self.mask, cache=self.cache)[:, -1].float()
        for row in range(len(self.active)):
            self._take(row, logits[row])
        self.steps += 1

    def _finish_reason(self, req: Request) -> str | None:
        if req.cancelled:
            return "cancelled"
        if req.generated and req.generated[-1] in req.params.stop_token_ids:
            return "stop"
        if len(req.generated) >= req.params.max_new_tokens:
            return "length"
        return None

    def _evict(self) -> None:
        keep = []
        for row, req in enumerate(self.active):
            reason = self._finish_reason(req)
            if reason is None:
                keep.append(row)
            elif reason != "cancelled":
                req.emit(None, reason)
        if len(keep) == len(self.active):
            return
        self.active = [self.active[i] for i in keep]
        if not keep:
            self.cache = self.mask = self.last = None
            return
        rows = torch.tensor(keep, device=self.device)
        self.cache.select(rows)
        self.mask, self.last = self.mask[rows], self.last[rows]
        # drop padding columns no remaining row needs
        lead = int(self.mask.any(0).long().argmax())
        if lead:
            self.mask = self.mask[:, lead:]
            self.cache.keys = [k[:, :, lead:] for k in self.cache.keys]
            self.cache.values = [v[:, :, lead:] for v in self.cache.values]
            self.cache.length -= lead
