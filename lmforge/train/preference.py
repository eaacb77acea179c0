"""DPO objective (sigmoid, IPO, SimPO) on summed completion log-probs, with reference
log-probs computed once and carried in the batch."""

from __future__ import annotations

from typing import Callable

import torch
import torch.nn.functional as F

from lmforge.errors import UserError
from lmforge.model.transformer import CausalLM
from lmforge.train.objectives import masked_token_logprobs

LOSSES = ("sigmoid", "ipo", "simpo")


def sequence_logps(model: CausalLM, input_ids: torch.Tensor, labels: torch.Tensor,
                   attention_mask: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Summed log-prob of the labelled (non -100) tokens of each row, and their count."""
    logp, mask = masked_token_logprobs(model, input_ids, labels, attention_mask)
    return logp.sum(-1), mask.sum(-1)


def dpo_loss(chosen: torch.Tensor, rejected: torch.Tensor, ref_chosen: torch.Tensor,
             ref_rejected: torch.Tensor, beta: float = 0.1, loss_type: str = "sigmoid",
             chosen_len: torch.Tensor | None = None, rejected_len: torch.Tensor | None = None,
             simpo_gamma: float = 0.5, sft_weight: float = 0.0) -> tuple[torch.Tensor, dict[str, float]]:
    """Mean preference loss over pairs and DPO's reward metrics. IPO (TRL's length-normalised
    form) and SimPO (reference-free, length-normalised, margin gamma) need the lengths. With
    `sft_weight`, plus that weight times the chosen replies' negative log-likelihood per token (RPO;
    TRL's loss_type ["sigmoid", "sft"]): a pair only asks that chosen beat rejected, and without it
    both can fall, the chosen answer with them."""
    chosen_ratio, rejected_ratio = chosen - ref_chosen, rejected - ref_rejected
    if loss_type == "sigmoid":
        losses = -F.logsigmoid(beta * (chosen_ratio - rejected_ratio))
    elif loss_type == "ipo":
        delta = chosen_ratio / chosen_len.clamp(min=1) - rejected_ratio / rejected_len.clamp(min=1)
        losses = (delta - 1 / (2 * beta)) ** 2
    elif loss_type == "simpo":
        delta = chosen / chosen_len.clamp(min=1) - rejected / rejected_len.clamp(min=1)
        losses = -F.logsigmoid(beta * delta - simpo_gamma)
    else:
        raise UserError(f"unknown DPO loss {loss_type!r}; choose from {', '.join(LOSSES)}")
    rc, rr = beta * chosen_ratio.detach(), beta * rejected_ratio.detach()
    metrics = {"rewards/chosen": rc.mean().item(), "rewards/rejected": rr.mean().item(),
               "rewards/accuracy": (rc > rr).float().mean().item(),
               "rewards/margin": (rc - rr).mean().item()}
    loss = losses.mean()
    if sft_weight:
        if chosen_len is None:
            raise UserError("dpo sft_weight needs the chosen replies' token counts")
        nll = -chosen.sum() / chosen_len.sum().clamp(min=1)
        metrics["sft_nll"] = nll.item()
        loss = loss + sft_weight * nll
    return loss, metrics


def dpo_objective(beta: float = 0.1, loss_type: str = "sigmoid", simpo_gamma: float = 0.5, sft_weight: float = 0.0
                  ) -> Callable[[CausalLM, dict[str, torch.Tensor]], tuple[torch.Tensor, dict[str, float]]]:
    """Objective for the trainer: the batch holds chosen_*/rejected_* ids, labels, masks and
    ref_chosen/ref_rejected (cached reference log-probs)."""

    def objective(model: CausalLM, batch: dict[str, torch.Tensor]) -> tuple[torch.Tensor, dict[str, float]]:
        ids = torch.cat([batch["chosen_input_ids"], batch["rejected_input_ids"]])
        labels = torch.cat([batch["chosen_labels"], batch["rejected_labels"]])
        att = torch.cat([batch["chosen_attention_mask"], batch["rejected_attention_mask"]])
        logps, lens = sequence_logps(model, ids, labels, att)
        n = batch["chosen_input_ids"].shape[0]
        return dpo_loss(logps[:n], logps[n:], batch["ref_chosen"], batch["ref_rejected"], beta,
                        loss_type, lens[:n], lens[n:], simpo_gamma, sft_weight)

    return objective
