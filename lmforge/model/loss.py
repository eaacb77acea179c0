"""The output layer's losses without the full (tokens x vocab) logits.

`linear_cross_entropy` projects hidden states through the LM head and takes the cross-entropy
one chunk of tokens at a time; each chunk's gradients (w.r.t. the hidden states and the head
weight) are computed in the same pass, so only one chunk's logits exist at any moment and the
backward pass is a multiply by the incoming scalar. `token_logprobs` gives per-token
log-probabilities of the labels (DPO, reference log-probs) with each chunk checkpointed: its
logits are recomputed in the backward pass. On CUDA, Liger Kernel's fused linear
cross-entropy is used when it is installed (optional, never required).
"""

from __future__ import annotations

from typing import Literal

import torch
import torch.nn.functional as F
from torch.utils.checkpoint import checkpoint

from lmforge.errors import UserError

IGNORE = -100
LossImpl = Literal["auto", "chunked", "liger", "full"]
# Each chunk's fp32 logits take about this many bytes (the softmax and its gradient reuse them).
CHUNK_BYTES = 128 * 2**20


def chunk_tokens(vocab_size: int, budget_bytes: int = CHUNK_BYTES) -> int:
    """Tokens per chunk so one chunk's fp32 logits fit in `budget_bytes` (a multiple of 8)."""
    return max(8, budget_bytes // (4 * vocab_size) // 8 * 8)


def _compute_dtype(t: torch.Tensor, weight: torch.Tensor) -> torch.dtype:
    """The matmul dtype autocast would pick for the LM head (the weight's dtype outside autocast)."""
    if torch.is_autocast_enabled(t.device.type):
        return torch.get_autocast_dtype(t.device.type)
    return weight.dtype


class _ChunkedLinearCE(torch.autograd.Function):
    """Mean (or sum) cross-entropy of hidden @ weight.T against targets, chunk by chunk."""

    @staticmethod
    def forward(ctx, hidden, weight, targets, chunk: int, dtype: torch.dtype, reduction: str):
        valid = targets != IGNORE
        scale = 1.0 / max(int(valid.sum()), 1) if reduction == "mean" else 1.0
        need_h, need_w = ctx.needs_input_grad[0], ctx.needs_input_grad[1]
        w = weight.to(dtype)
        total = torch.zeros((), dtype=torch.float32, device=hidden.device)
        grad_h = torch.empty_like(hidden) if need_h else None
        grad_w = torch.zeros(weight.shape, dtype=torch.float32, device=weight.device) if need_w else None
        for s in range(0, hidden.shape[0], chunk):
            h, t, m = hidden[s:s + chunk].to(dtype), targets[s:s + chunk].clamp(min=0), valid[s:s + chunk]
            logits = (h @ w.t()).float()
            target_logit = logits.gather(1, t[:, None])[:, 0]
            top = logits.amax(-1, keepdim=True)
            e = logits.sub_(top).exp_()  # in place: exp(logit - max)
            z = e.sum(-1)
            total += ((z.log() + top[:, 0] - target_logit) * m).sum()
            if need_h or need_w:
                # softmax - onehot = (e - z * onehot) / z; the row factor m * scale / z is applied to
                # the (chunk, H) sides of the matmuls rather than to the (chunk, V) gradient.
                e[torch.arange(len(t), device=t.device), t] -= z
                row = (m * scale / z)[:, None]
                g = e.to(dtype)
                if need_h:
                    grad_h[s:s + chunk] = ((g @ w).float() * row).to(hidden.dtype)
                if need_w and g.dtype == grad_w.dtype:
                    grad_w.addmm_(g.t(), h * row)
                elif need_w:
                    grad_w += (g.t() @ (h * row).to(dtype)).float()
        # Held on ctx (not saved tensors) so backward can hand them over without a copy.
        ctx.grads, ctx.weight_dtype = (grad_h, grad_w), weight.dtype
        return total * scale

    @staticmethod
    def backward(ctx, grad_out):
        grad_h, grad_w = ctx.grads
        del ctx.grads  # one backward pass (like any fused loss); the gradients leave with it
        if grad_h is not None:
            grad_h = grad_h.mul_(grad_out.to(grad_h.dtype))
        if grad_w is not None:
            grad_w = grad_w.mul_(grad_out).to(ctx.weight_dtype)
        return grad_h, grad_w, None, None, None, None


def _liger():
    """Liger Kernel's fused linear cross-entropy function, or None when it is not installed."""
    try:
        from liger_kernel.transformers.functional import liger_fused_linear_cross_entropy
    except ImportError:
        return None
    return liger_fused_linear_cross_entropy


def resolve_impl(impl: LossImpl, device: torch.device) -> str:
    """'auto' is Liger on CUDA when installed, else our chunked loss."""
    if impl == "liger" and _liger() is None:
        raise UserError("loss_impl: liger needs liger-kernel: pip install 'lmforge[liger]'")
    if impl != "auto":
        return impl
    return "liger" if device.type == "cuda" and _liger() is not None else "chunked"


def use_full_logits(impl: LossImpl, n_tokens: int, vocab_size: int, device: torch.device,
                    chunk: int | None = None) -> bool:
    """Whether the plain logits path runs: only when asked for. Even when all `n_tokens` fit in
    one chunk, the chunked path is the faster one (its gradients come out of the forward pass:
    no log-softmax backward, no separate pass over the logits), so 'auto' never picks 'full'."""
    return impl == "full"


@torch.compiler.disable
def linear_cross_entropy(hidden: torch.Tensor, weight: torch.Tensor, targets: torch.Tensor,
                         impl: LossImpl = "auto", chunk: int | None = None,
                         reduction: Literal["mean", "sum"] = "mean") -> torch.Tensor:
    """Cross-entropy of `hidden` (N, H) through the head `weight` (V, H) against `targets` (N,),
    ignoring targets of -100. 'full' materializes the logits; the others never do."""
    kind = "full" if use_full_logits(impl, hidden.shape[0], weight.shape[0], hidden.device, chunk) \
        else resolve_impl(impl, hidden.device)
    n = chunk or chunk_tokens(weight.shape[0])
    if kind == "full":
        logits = F.linear(hidden, weight).float()
        return F.cross_entropy(logits, targets, ignore_index=IGNORE, reduction=reduction)
    dtype = _compute_dtype(hidden, weight)
    if kind == "liger":
        loss = _liger()(hidden.to(dtype), weight.to(dtype), targets, ignore_index=IGNORE,
                        reduction=reduction)
        return loss.float()
    return _ChunkedLinearCE.apply(hidden, weight, targets, n, dtype, reduction)


def masked_logprobs(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """log p(target) at each position from ready logits (..., V); 0 where the target is -100."""
    logp = logits.float().log_softmax(-1).gather(-1, targets.clamp(min=0)[..., None])[..., 0]
    return logp * (targets != IGNORE)


def _chunk_logprobs(h: torch.Tensor, weight: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    return masked_logprobs(F.linear(h, weight), t)


def token_logprobs(hidden: torch.Tensor, weight: torch.Tensor, targets: torch.Tensor,
                   chunk: int | None = None) -> torch.Tensor:
    """log p(target) of each token of `hidden` (B, T, H) through `weight`, shape (B, T), 0 where
    the target is -100; chunks of rows are checkpointed so their logits are never all alive."""
    b, t, h = hidden.shape
    flat, tgt = hidden.reshape(b * t, h), targets.reshape(b * t)
    n = chunk or chunk_tokens(weight.shape[0])
    if not torch.is_grad_enabled() or b * t <= n:
        parts = [_chunk_logprobs(flat[s:s + n], weight, tgt[s:s + n]) for s in range(0, b * t, n)]
    else:
        parts = [checkpoint(_chunk_logprobs, flat[s:s + n], weight, tgt[s:s + n], use_reentrant=False)
                 for s in range(0, b * t, n)]
    return torch.cat(parts).reshape(b, t)
