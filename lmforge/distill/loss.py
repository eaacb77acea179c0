"""White-box distillation losses on the teacher's logits, and the objective the one loop runs.

`divergence` is the generalized Jensen-Shannon divergence of GKD (Agarwal et al. 2023, Eq. 1)
per position, on temperature-scaled distributions: beta 0 is the forward KL(teacher || student),
beta 1 the reverse KL(student || teacher), and 0 < beta < 1 the divergence of each from the
mixture M = beta * teacher + (1 - beta) * student,
    beta * KL(teacher || M) + (1 - beta) * KL(student || M).
As in TRL's GKD the temperature divides both logits and the result is not rescaled by T^2.
`distill_objective` mixes it with the next-token cross-entropy:
    loss = alpha * CE + (1 - alpha) * divergence,
both averaged over the labelled positions, with the output layer applied one chunk of positions
at a time (each chunk recomputed in the backward pass) so no (tokens x vocab) tensor is kept.
"""

from __future__ import annotations

import math
from typing import Callable

import torch
import torch.nn.functional as F
from torch.utils.checkpoint import checkpoint

from lmforge.model.loss import IGNORE, chunk_tokens
from lmforge.model.transformer import CausalLM
from lmforge.train.objectives import with_aux_loss


def _kl(log_p: torch.Tensor, log_q: torch.Tensor) -> torch.Tensor:
    """KL(p || q) over the last dimension, from log-probabilities."""
    return (log_p.exp() * (log_p - log_q)).sum(-1)


def divergence(student_logits: torch.Tensor, teacher_logits: torch.Tensor, beta: float,
               temperature: float = 1.0) -> torch.Tensor:
    """Generalized JSD per position (all dimensions but the last kept), in fp32."""
    s = F.log_softmax(student_logits.float() / temperature, dim=-1)
    t = F.log_softmax(teacher_logits.float() / temperature, dim=-1)
    if beta == 0:
        return _kl(t, s)
    if beta == 1:
        return _kl(s, t)
    mix = torch.logsumexp(torch.stack([t + math.log(beta), s + math.log1p(-beta)]), dim=0)
    return beta * _kl(t, mix) + (1 - beta) * _kl(s, mix)


def distill_loss(student_logits: torch.Tensor, teacher_logits: torch.Tensor, labels: torch.Tensor,
                 beta: float, temperature: float = 1.0) -> torch.Tensor:
    """Mean divergence over positions whose label is not -100 (logits and labels aligned)."""
    keep = labels != IGNORE
    per = divergence(student_logits[keep], teacher_logits[keep], beta, temperature)
    return per.sum() / keep.sum().clamp(min=1)


def _inner(model: torch.nn.Module) -> CausalLM:
    """The CausalLM under DDP/FSDP (`module`) and torch.compile (`_orig_mod`) wrappers."""
    while hasattr(model, "module") or hasattr(model, "_orig_mod"):
        model = getattr(model, "module", None) or model._orig_mod
    return model


def _chunk_sums(h_s: torch.Tensor, h_t: torch.Tensor, target: torch.Tensor, head_s: torch.nn.Module,
                head_t: torch.nn.Module, beta: float, temperature: float) -> torch.Tensor:
    """[sum of divergences, sum of cross-entropies] of one chunk of positions."""
    logits_s = head_s(h_s)
    with torch.no_grad():
        logits_t = head_t(h_t)
    width = min(logits_s.shape[-1], logits_t.shape[-1])  # padded embedding rows past the shared vocabulary
    kd = divergence(logits_s[:, :width], logits_t[:, :width], beta, temperature).sum()
    ce = F.cross_entropy(logits_s.float(), target, reduction="sum")
    return torch.stack([kd, ce])


def _forward(model: torch.nn.Module, batch: dict[str, torch.Tensor]) -> torch.Tensor:
    return model(batch["input_ids"], attention_mask=batch.get("attention_mask"),
                 position_ids=batch.get("position_ids"), document_ids=batch.get("document_ids"),
                 return_hidden=True)


def distill_objective(teacher: CausalLM, beta: float, temperature: float = 1.0, alpha: float = 0.0,
                      chunk: int | None = None) -> Callable:
    """(model, batch) -> (loss, {"ce", "kd"}): the student's loss against the frozen teacher on
    every labelled position; the teacher follows the batch to its device."""
    teacher.eval().requires_grad_(False)

    def objective(model, batch):
        ids = batch["input_ids"]
        if next(teacher.parameters()).device != ids.device:
            teacher.to(ids.device)
        target = batch["labels"][:, 1:]
        keep = target != IGNORE
        h_s = _forward(model, batch)[:, :-1][keep]
        with torch.no_grad():
            h_t = _forward(teacher, batch)[:, :-1][keep]
        target = target[keep]
        head_s, n = _inner(model).lm_head, max(int(keep.sum()), 1)
        step = chunk or chunk_tokens(max(teacher.config.vocab_size, head_s.weight.shape[0]))
        sums = h_s.sum() * 0 + torch.zeros(2, device=ids.device)
        for s in range(0, h_s.shape[0], step):
            sums = sums + checkpoint(_chunk_sums, h_s[s:s + step], h_t[s:s + step], target[s:s + step],
                                     head_s, teacher.lm_head, beta, temperature, use_reentrant=False)
        kd, ce = sums[0] / n, sums[1] / n
        loss = alpha * ce + (1 - alpha) * kd
        return with_aux_loss(model, loss), {"ce": float(ce.detach()), "kd": float(kd.detach())}
    return objective
