"""llama.cpp runs the f32 GGUF export of the Llama-3.1 (llama3 rope scaling, shipped as the
`rope_freqs.weight` tensor) and Qwen3 (q/k norms, explicit head_dim, NEOX rope) stand-ins: the
same greedy tokens as lmforge after a long prompt, and logits equal to float precision over
256 positions (a wrong rope frequency shows there: the stand-ins' q/k are large)."""

from __future__ import annotations

import shutil

import numpy as np
import pytest

from lmforge.export.gguf import export_gguf
from lmforge.model import load_model
from lmforge.model.generate import SamplingParams, generate
from lmforge.tokenizer import Tokenizer
from lmforge.tokenizer.train import train_tokenizer
from tests.export.conftest import TEXTS
from tests.llamacpp.agreement import (
    llama_greedy,
    llama_logits,
    lmforge_logits,
    open_gguf,
)
from tests.model.families import write_standin
from tests.tokenizer import formats as F

NEW_TOKENS = 32


@pytest.fixture(scope="module")
def tokenizer_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("tok")
    train_tokenizer(TEXTS, vocab_size=300, out_dir=out, chat_template="chatml")
    return out


@pytest.mark.parametrize("family", ["llama3", "qwen3"])
def test_standin_f32_agrees(tmp_path, tokenizer_dir, report, family):
    folder = write_standin(family, tmp_path / family)
    for f in tokenizer_dir.iterdir():
        shutil.copy2(f, folder / f.name)
    model, tok = load_model(folder), Tokenizer.from_dir(folder)
    text = F.english(held_out=True)[2_000:6_000] + F.reviews("neg", 2_000)
    ids = tok.encode(text)[:256]
    prompts = [ids[:64], ids[100:200]]
    ours = generate(model, prompts, SamplingParams(max_new_tokens=NEW_TOKENS))
    llm = open_gguf(export_gguf(folder, tmp_path / f"{family}.gguf", "f32"))
    try:
        theirs = [llama_greedy(llm, p, NEW_TOKENS) for p in prompts]
        got, ref = llama_logits(llm, ids), lmforge_logits(model, ids)
    finally:
        llm.close()
    diff = float(np.abs(got - ref).max())
    top1 = float((got.argmax(-1) == ref.argmax(-1)).mean())
    same = sum(a == b for a, b in zip(ours, theirs))
    report.setdefault("families", {})[family] = {
        "greedy_equal": f"{same}/{len(prompts)} x {NEW_TOKENS} tokens", "positions": len(ids),
        "max_abs_logit_diff": diff, "logit_scale": float(np.abs(ref).max()), "top1": top1}
    print(f"\n{family}: greedy {same}/{len(prompts)} equal, max |logit diff| {diff:.2e} "
          f"over {len(ids)} positions (|logits| up to {np.abs(ref).max():.1f}), top-1 {top1:.4f}")
    assert ours == theirs
    assert diff < 1e-3 * max(1.0, float(np.abs(ref).max()))
