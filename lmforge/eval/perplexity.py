"""Perplexity and bits-per-byte of documents (bpb is comparable across tokenizers), and the
`lmforge eval perplexity` operation."""

from __future__ import annotations

import itertools
import math
from typing import Any, Iterable

import numpy as np
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
    ci_text,
    finish,
    load_model_for,
    markdown,
    must_exist,
)
from lmforge.model.loader import Loaded
from lmforge.model.loss import masked_logprobs
from lmforge.model.transformer import CausalLM
from lmforge.stats import bootstrap
from lmforge.tokenizer.core import Tokenizer


@torch.inference_mode()
def perplexity(model: CausalLM, tok: Tokenizer, docs: Iterable[str], window: int | None = None,
               progress: bool = True) -> dict[str, Any]:
    """Each document is prefixed by EOS (the packed-data separator) so every token is predicted,
    and scored in non-overlapping windows of the model's context. Each figure comes with its
    95% interval: a percentile bootstrap over documents (a resample's summed loss over its summed
    tokens, or bytes); the perplexity interval is exp of the loss interval."""
    window = window or model.config.max_position_embeddings
    device = next(model.parameters()).device
    per_doc: list[tuple[float, int, int]] = []  # (nll, tokens, bytes) of each document
    for doc in tqdm(docs, desc="perplexity", unit="doc", disable=not progress):
        ids = [tok.eos_id if tok.eos_id is not None else tok.pad_id] + tok.encode(doc)
        nll = 0.0
        for start in range(0, len(ids) - 1, window):
            chunk = torch.tensor(ids[start:start + window + 1], device=device)[None]
            logits = model(chunk[:, :-1]).float()
            nll -= masked_logprobs(logits[0], chunk[0, 1:]).sum().item()
        per_doc.append((nll, len(ids) - 1, len(doc.encode("utf-8"))))
    scored = [d for d in per_doc if d[1]]  # an empty document has no token to predict
    if not scored:
        raise UserError("perplexity: no text to score (the files hold no documents)")
    return summarize(np.array(scored, dtype=np.float64))


def summarize(per_doc: np.ndarray, rounds: int = 1000, seed: int = 0) -> dict[str, Any]:
    """Totals, nll per token, perplexity and bits per byte from rows (nll, tokens, bytes) per
    document, each with its percentile bootstrap 95% interval over the documents."""
    nll, tokens, nbytes = per_doc[:, 0], per_doc[:, 1], per_doc[:, 2]
    loss = nll.sum() / tokens.sum()
    loss_ci = bootstrap(len(per_doc), lambda rows: nll[rows].sum() / tokens[rows].sum(), rounds, seed)
    bpb_ci = bootstrap(len(per_doc), lambda rows: nll[rows].sum() / math.log(2) / max(nbytes[rows].sum(), 1),
                       rounds, seed)
    return {"documents": len(per_doc), "tokens": int(tokens.sum()), "bytes": int(nbytes.sum()),
            "nll_per_token": float(loss), "nll_per_token_ci95": list(loss_ci),
            "perplexity": math.exp(loss), "perplexity_ci95": [math.exp(x) for x in loss_ci],
            "bits_per_byte": float(nll.sum() / math.log(2) / max(nbytes.sum(), 1)),
            "bits_per_byte_ci95": list(bpb_ci)}


class PerplexityConfig(EvalSettings, ModelFolder):
    """`lmforge eval perplexity`: perplexity and bits per byte on text files (limit: first N documents)."""

    files: list[str] = Field(min_length=1, description="text files or folders (jsonl/parquet/txt, .gz/.zst)")
    window: int | None = Field(None, gt=1, description="tokens per scored window (default: the model's context)")

    _exist = field_validator("files")(must_exist)


def run_perplexity(cfg: PerplexityConfig, loaded: Loaded | None = None) -> EvalResult:
    """documents, tokens, bytes, nll_per_token, perplexity and bits_per_byte (each with its `_ci95`)
    under `results["perplexity"]`."""
    check_out(cfg)
    lm = load_model_for(cfg, cfg.model, loaded)
    docs = itertools.islice(read_documents(cfg.files), cfg.limit)
    try:
        r = perplexity(lm.model, lm.tokenizer, docs, cfg.window, progress=True)
    except UserError as e:
        raise UserError(f"--files {' '.join(cfg.files)}: {e}") from None
    report = markdown(["text", "documents", "tokens", "bytes", "perplexity", "95% CI", "bits/byte", "95% CI"],
                      [[", ".join(cfg.files), r["documents"], r["tokens"], r["bytes"], r["perplexity"],
                        ci_text(r["perplexity_ci95"]), r["bits_per_byte"], ci_text(r["bits_per_byte_ci95"])]])
    report += ("\n95% CI: percentile bootstrap over the documents (1000 resamples of whole documents; "
               "perplexity's is exp of the per-token loss interval).\n")
    return finish(cfg, "perplexity", {"perplexity": r}, report)
