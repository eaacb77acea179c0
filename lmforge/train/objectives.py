"""Objectives: (model, batch) -> (loss, metrics). The training loop calls one of these."""

from __future__ import annotations

from typing import Callable

import torch

from lmforge.errors import UserError
from lmforge.model.loss import IGNORE
from lmforge.model.transformer import CausalLM

Objective = Callable[[CausalLM, dict[str, torch.Tensor]], tuple[torch.Tensor, dict[str, float]]]


def with_aux_loss(model: CausalLM, loss: torch.Tensor) -> torch.Tensor:
    """Add the MoE load-balancing loss (scaled by router_aux_loss_coef) when there is one."""
    inner = getattr(model, "module", model)
    aux = inner.aux_loss() if hasattr(inner, "aux_loss") else None
    return loss if aux is None else loss + inner.config.router_aux_loss_coef * aux


def causal_lm(model: CausalLM, batch: dict[str, torch.Tensor]) -> tuple[torch.Tensor, dict[str, float]]:
    """Next-token cross-entropy over every position whose label is not -100 (the model computes
    it without the full logits; see lmforge/model/loss.py)."""
    loss = model(batch["input_ids"], attention_mask=batch.get("attention_mask"),
                 position_ids=batch.get("position_ids"), labels=batch["labels"],
                 document_ids=batch.get("document_ids"))
    return with_aux_loss(model, loss), {}


def masked_token_logprobs(model: CausalLM, input_ids: torch.Tensor, labels: torch.Tensor,
                          attention_mask: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """The one place for masked token log-probs: log p(labels[:, 1:]) per position (B, T-1),
    0 where the label is -100, and the boolean mask of labelled positions."""
    logp = model(input_ids, attention_mask=attention_mask, labels=labels, output="token_logprobs")
    return logp, labels[:, 1:] != IGNORE


def with_documents(batch: dict[str, torch.Tensor], eos_id: int) -> dict[str, torch.Tensor]:
    """Mark the documents of packed rows (each ends with EOS) for document-masked attention.

    `document_ids` counts the EOS tokens before each position (an EOS belongs to the document it
    ends); the label of each document's first token is ignored, since nothing of its document
    precedes it: a packed row then trains exactly like its documents run one by one."""
    ids = batch["input_ids"]
    ends = (ids == eos_id).long()
    docs = ends.cumsum(-1) - ends
    labels = batch["labels"].clone()
    labels[:, 1:][docs[:, 1:] != docs[:, :-1]] = IGNORE
    return {**batch, "document_ids": docs, "labels": labels}


class DocumentMasked:
    """A batch source whose packed rows carry document ids (train.document_mask: true)."""

    def __init__(self, source) -> None:
        eos = getattr(source, "eos_id", None)
        if eos is None:
            raise UserError("train.document_mask needs packed token data whose manifest names its "
                             "eos_id (written by lmforge data pack)")
        self.source, self.eos_id = source, eos

    def next_batch(self) -> dict[str, torch.Tensor]:
        return with_documents(self.source.next_batch(), self.eos_id)

    def state_dict(self):
        return self.source.state_dict()

    def load_state_dict(self, state) -> None:
        self.source.load_state_dict(state)
