"""llama.cpp (llama-cpp-python) runs lmforge's GGUF export: same tokenizer ids on mixed zh/en text,
same greedy tokens from the f32 file, and q8_0's top-1 agreement with lmforge's logits.

    make check-llamacpp                 # builds llama-cpp-python once (.cache/wheels) and runs
                                        # the agreement checks of tests/llamacpp on tiny models
    python benchmarks/gguf_llamacpp.py [--model DIR]   # default: trains a small model first

This benchmark measures a larger model (or yours) and llama.cpp's q8_0 speed; the pass/fail
checks for every tokenizer format are tests/llamacpp. Not part of `make test`.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the checkout's tests package
from tests.llamacpp.agreement import llama_greedy, llama_logits, open_gguf, train_tiny


def train_small_model(out: Path, steps: int, seed: int = 0) -> Path:
    """A bilingual byte-level BPE tokenizer and a small Llama trained with a plain loop."""
    from lmforge.data.corpus import demo_corpus
    from lmforge.tokenizer.train import train_tokenizer

    corpus = demo_corpus(400_000)
    texts = corpus["en"] + corpus["zh"]
    train_tokenizer(texts, vocab_size=2048, out_dir=out / "tokenizer", chat_template="chatml")
    return train_tiny(out / "tokenizer", out / "model", texts, steps, seed, seq=128, batch=16, lr=3e-3,
                      hidden_size=128, intermediate_size=352, num_hidden_layers=4)


def main() -> None:
    from lmforge.export.gguf import export_gguf
    from lmforge.model import load_model
    from lmforge.model.generate import SamplingParams, generate
    from lmforge.tokenizer import Tokenizer

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", help="model folder (default: train a small one)")
    ap.add_argument("--steps", type=int, default=300, help="training steps when no --model")
    ap.add_argument("--new-tokens", type=int, default=48)
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="lmforge-gguf-"))
    model_dir = Path(args.model) if args.model else train_small_model(work, args.steps)
    model, tok = load_model(model_dir), Tokenizer.from_dir(model_dir)
    results: dict = {"model": str(model_dir), "parameters": model.num_parameters()}

    files = {t: export_gguf(model_dir, work / f"model-{t}.gguf", t) for t in ("f32", "q8_0")}
    llms = {t: open_gguf(f) for t, f in files.items()}
    results["sizes_mib"] = {t: round(f.stat().st_size / 2**20, 2) for t, f in files.items()}

    from lmforge.data.corpus import hsk_pairs
    texts = ["Hello world! 你好，世界。The year 2024 has 366 days; 二〇二四年有三百六十六天。",
             "  leading spaces, tabs\tand\nnew lines\n\n混合 English 和中文 text, numbers 3.14159 and 🦊 emoji.",
             "def f(x):\n    return x ** 2  # 平方\n"]
    texts += [p["zh"] + " " + p["en"] for p in hsk_pairs()[:200] if "zh" in p and "en" in p]
    same = sum(llms["f32"].tokenize(t.encode(), add_bos=False, special=False) == tok.encode(t) for t in texts)
    results["tokenizer_ids_equal"] = f"{same}/{len(texts)} texts"

    prompts = ["The king said to", "今天天气", "Once upon a time, there was a", "我们的学校"]
    greedy_equal, top1 = 0, {"f32": [], "q8_0": []}
    max_diff = 0.0
    for text in prompts:
        prompt = tok.encode(text, add_bos=True)
        ours = generate(model, [prompt], SamplingParams(max_new_tokens=args.new_tokens))[0]
        theirs = llama_greedy(llms["f32"], prompt, args.new_tokens)
        greedy_equal += ours == theirs
        seq = prompt + ours
        with torch.no_grad():
            ref = model(torch.tensor([seq]))[0].float().numpy()
        for t, llm in llms.items():
            got = llama_logits(llm, seq)
            top1[t].append(float((got.argmax(-1) == ref.argmax(-1)).mean()))
            if t == "f32":
                max_diff = max(max_diff, float(np.abs(got - ref).max()))
        print(f"{text!r}: lmforge {tok.decode(ours)!r}\n{'':>{len(repr(text))}}  llama.cpp {tok.decode(theirs)!r}")
    # teacher-forced on real text (not the model's own, often repetitive, greedy output)
    real = {"f32": [], "q8_0": []}
    for text in texts[:3] + [t for t in texts[3:40:6]]:
        seq = tok.encode(text, add_bos=True)[:256]
        with torch.no_grad():
            ref = model(torch.tensor([seq]))[0].float().numpy()
        for t, llm in llms.items():
            real[t].append(float((llama_logits(llm, seq).argmax(-1) == ref.argmax(-1)).mean()))
    results["top1_agreement_real_text"] = {t: round(float(np.mean(v)), 4) for t, v in real.items()}
    results["f32_greedy_equal"] = f"{greedy_equal}/{len(prompts)} prompts x {args.new_tokens} tokens"
    results["f32_max_abs_logit_diff"] = max_diff
    results["top1_agreement_greedy_sequences"] = {t: round(float(np.mean(v)), 4) for t, v in top1.items()}
    t0 = time.perf_counter()
    llama_greedy(llms["q8_0"], tok.encode(prompts[0], add_bos=True), 64)
    results["llamacpp_q8_0_tokens_per_s"] = round(64 / (time.perf_counter() - t0), 1)
    print(json.dumps(results, indent=2, ensure_ascii=False))


if __name__ == "__main__":
    main()
