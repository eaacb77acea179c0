"""Perplexity and bits-per-byte of documents (bpb is comparable across tokenizers), and the
`lmforge eval perplexity` operation."""

from __future__ import annotations

import itertools
import math
from typing import Iterable

import torch
from pydantic import Field, field_validator
from tqdm import tqdm

from lmforge.data.read import read_documents
from lmforge.errors import UserError
from lmforge.eval.operation import (
    EvalResult,
    EvalSettings,
    ModelFolder,
    check_out,
    finish,
    load_model_for,
    markdown,
    must_exist,
)
from lmforge.model.loader import Loaded
from lmforge.model.loss import masked_logprobs
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
            nll -= masked_logprobs(logits[0], chunk[0, 1:]).sum().item()
            tokens += chunk.shape[1] - 1
        nbytes += len(doc.encode("utf-8"))
    if not tokens:
        raise UserError("perplexity: no text to score (the files hold no documents)")
    return {"tokens": tokens, "bytes": nbytes, "nll_per_token": nll / tokens,
            "perplexity": math.exp(nll / tokens), "bits_per_byte": nll / math.log(2) / nbytes}


class PerplexityConfig(EvalSettings, ModelFolder):
    """`lmforge eval perplexity`: perplexity and bits per byte on text files (limit: first N documents)."""

    files: list[str] = Field(min_length=1, description="text files or folders (jsonl/parquet/txt, .gz/.zst)")
    window: int | None = Field(None, gt=1, description="tokens per scored window (default: the model's context)")

    _exist = field_validator("files")(must_exist)


def run_perplexity(cfg: PerplexityConfig, loaded: Loaded | None = None) -> EvalResult:
    """tokens, bytes, nll_per_token, perplexity and bits_per_byte under `results["perplexity"]`."""
    check_out(cfg)
    lm = load_model_for(cfg, cfg.model, loaded)
    docs = itertools.islice(read_documents(cfg.files), cfg.limit)
    try:
        r = perplexity(lm.model, lm.tokenizer, docs, cfg.window, progress=True)
    except UserError as e:
        raise UserError(f"--files {' '.join(cfg.files)}: {e}") from None
    report = markdown(["text", "tokens", "bytes", "perplexity", "bits/byte"],
                      [[", ".join(cfg.files), r["tokens"], r["bytes"], r["perplexity"], r["bits_per_byte"]]])
    return finish(cfg, "perplexity", {"perplexity": r}, report)
