"""Perplexity and bits-per-byte of documents (bpb is comparable across tokenizers)."""

from __future__ import annotations

import math
from typing import Iterable

import torch
from tqdm import tqdm

from lmforge.model.transformer import CausalLM
from lmforge.tokenizer.core import Tokenizer


@torch.inference_mode()
def perplexity(model: CausalLM, tok: Tokenizer, docs: Iterable[str], window: int | None = None,
               progress: bool = True) -> dict[str, float]:
    """Each document is prefixed by EOS (the packed-data separator) so every token is predicted,
    and scored in non-overlapping windows of the model's context."""
    window = window or model.config.max_position_embeddings
    device = next(model.parameters()).device
    nll, tokens, nbytes = 0.0, 0, 0
    for doc in tqdm(docs, desc="perplexity", unit="doc", disable=not progress):
        ids = [tok.eos_id if tok.eos_id is not None else tok.pad_id] + tok.encode(doc)
        for start in range(0, len(ids) - 1, window):
            chunk = torch.tensor(ids[start:start + window + 1], device=device)[None]
            logits = model(chunk[:, :-1]).float()
            nll += torch.nn.functional.cross_entropy(logits[0], chunk[0, 1:], reduction="sum").item()
            tokens += chunk.shape[1] - 1
        nbytes += len(doc.encode("utf-8"))
    if not tokens:
        raise ValueError("perplexity: no text to score")
    return {"tokens": tokens, "bytes": nbytes, "nll_per_token": nll / tokens,
            "perplexity": math.exp(nll / tokens), "bits_per_byte": nll / math.log(2) / nbytes}
