"""Objectives: (model, batch) -> (loss, metrics). The training loop calls one of these."""

from __future__ import annotations

from typing import Callable

import torch

from lmforge.model.transformer import CausalLM, causal_lm_loss

Objective = Callable[[CausalLM, dict[str, torch.Tensor]], tuple[torch.Tensor, dict[str, float]]]


def with_aux_loss(model: CausalLM, loss: torch.Tensor) -> torch.Tensor:
    """Add the MoE load-balancing loss (scaled by router_aux_loss_coef) when there is one."""
    inner = getattr(model, "module", model)
    aux = inner.aux_loss() if hasattr(inner, "aux_loss") else None
    return loss if aux is None else loss + inner.config.router_aux_loss_coef * aux


def causal_lm(model: CausalLM, batch: dict[str, torch.Tensor]) -> tuple[torch.Tensor, dict[str, float]]:
    """Next-token cross-entropy over every position whose label is not -100."""
    logits = model(batch["input_ids"], attention_mask=batch.get("attention_mask"),
                   position_ids=batch.get("position_ids"))
    loss = causal_lm_loss(logits, batch["labels"])
    return with_aux_loss(model, loss), {}
