"""Helpers of the llama.cpp checks: a tiny model trained on mixed text for a tokenizer folder,
llama.cpp's greedy tokens and logits through llama-cpp-python, and a binomial interval."""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch

from lmforge.model import build_model, preset, save_model
from lmforge.model.transformer import causal_lm_loss
from lmforge.tokenizer import Tokenizer

N_CTX = 512
F32 = 0  # GGML_TYPE_F32


TINY_SHAPE = {"hidden_size": 64, "intermediate_size": 128, "num_hidden_layers": 2,
              "num_attention_heads": 4, "num_key_value_heads": 2}


def train_tiny(tok_dir: Path, out: Path, texts: Sequence[str], steps: int = 40, seed: int = 0,
               seq: int = 64, batch: int = 8, lr: float = 1e-2, **shape) -> Path:
    """A small Llama (`shape` overrides TINY_SHAPE) with `tok_dir`'s vocabulary, a few Adam steps
    on `texts` so that greedy output follows the text rather than noise; saved with the
    tokenizer files."""
    tok = Tokenizer.from_dir(tok_dir)
    ids = torch.tensor([t for doc in tok.encode_batch(list(texts)) for t in doc + [tok.eos_id]])
    cfg = preset("tiny", vocab_size=tok.vocab_size, **{**TINY_SHAPE, **shape},
                 bos_token_id=tok.bos_id, eos_token_id=tok.eos_id)
    model = build_model(cfg, seed=seed).train()
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=0.0)
    gen = torch.Generator().manual_seed(seed)
    for step in range(steps):
        starts = torch.randint(0, len(ids) - seq - 1, (batch,), generator=gen)
        x = torch.stack([ids[s:s + seq] for s in starts])
        loss = causal_lm_loss(model(x), x)
        opt.zero_grad()
        loss.backward()
        opt.step()
        if step % 50 == 0 or step == steps - 1:
            print(f"train step {step} loss {loss.item():.3f}", flush=True)
    return save_model(model.eval(), out, created_by="tests/llamacpp", copy_from=tok_dir)


def _no_extra_buffers() -> None:
    """llama-cpp-python's Llama has no switch for llama.cpp's `use_extra_bufts` (weight repacking,
    AMX): on an AMX CPU under -march=native, decoding a Q8_0 file in them segfaults (llama-cpp-python
    0.3.36), so plain CPU buffers are used, as for f32."""
    import llama_cpp.llama_cpp as C

    if getattr(C.llama_model_default_params, "lmforge_plain", False):
        return
    default = C.llama_model_default_params

    def plain():
        params = default()
        params.use_extra_bufts = False
        return params

    plain.lmforge_plain = True
    C.llama_model_default_params = plain


def open_gguf(path: Path, vocab_only: bool = False):
    from llama_cpp import Llama

    _no_extra_buffers()

    # an f32 KV cache (llama.cpp's default is f16), so f32 files compare at float precision
    return Llama(model_path=str(path), n_ctx=N_CTX, n_batch=N_CTX, logits_all=True, n_threads=2,
                 verbose=False, seed=0, vocab_only=vocab_only, type_k=F32, type_v=F32)


def llama_greedy(llm, prompt: Sequence[int], n: int) -> list[int]:
    """llama.cpp's argmax continuation of `prompt` (no sampler, no penalties)."""
    llm.reset()
    llm.eval(list(prompt))
    out: list[int] = []
    for _ in range(n):
        tok = int(np.argmax(llm.scores[llm.n_tokens - 1]))
        out.append(tok)
        llm.eval([tok])
    return out


def llama_logits(llm, ids: Sequence[int]) -> np.ndarray:
    llm.reset()
    llm.eval(list(ids))
    return np.array(llm.scores[: len(ids)])


def lmforge_logits(model, ids: Sequence[int]) -> np.ndarray:
    with torch.no_grad():
        return model(torch.tensor([list(ids)]))[0].float().numpy()


def wilson(k: int, n: int, z: float = 1.96) -> tuple[float, float]:
    """95% Wilson score interval of a proportion k/n."""
    if n == 0:
        return (0.0, 1.0)
    p = k / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return (round(centre - half, 4), round(centre + half, 4))
