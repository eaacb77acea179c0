"""Sanity check of MC scoring on the 1,000 real MMLU questions shipped in the `evals` package:
a random-init model should score ~25%; the same model fine-tuned on those very questions
(a planted answer key, i.e. deliberate test-set contamination) should score far above.

    .venv/bin/python benchmarks/eval_mmlu_planted.py [--steps 400]
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from importlib.util import find_spec
from pathlib import Path

import torch
from tokenizers import Tokenizer as HFTok, decoders, models, pre_tokenizers, trainers

from lmforge.eval.runner import encode_pair, evaluate_mc
from lmforge.eval.task import LETTERS
from lmforge.eval.tasks import load_task
from lmforge.model import build_model, preset
from lmforge.tokenizer.core import Tokenizer


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--steps", type=int, default=400)
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--limit", type=int, help="first N questions only (a quicker run)")
    ap.add_argument("--context", type=int, default=512, help="tokens kept (left-truncated)")
    args = ap.parse_args()
    torch.manual_seed(0)
    path = Path(find_spec("evals").submodule_search_locations[0])  # no import: evals needs blobfile
    path = path / "registry/data/sandbagging/samples-all-large.jsonl"
    task = load_task("evals-mc", path)
    task.items = task.items[:args.limit] if args.limit else task.items
    prompts = [task.prompt(x) for x in task.items]
    hf = HFTok(models.BPE())
    hf.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    hf.decoder = decoders.ByteLevel()
    hf.train_from_iterator(prompts, trainers.BpeTrainer(
        vocab_size=2048, special_tokens=["<|endoftext|>"],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet()))
    tok = Tokenizer(hf, {"eos_token": "<|endoftext|>", "pad_token": "<|endoftext|>"})
    cfg = preset("tiny", vocab_size=hf.get_vocab_size(), max_position_embeddings=args.context)
    model = build_model(cfg, seed=0).eval()
    t0 = time.time()
    before = evaluate_mc(model, tok, task, batch_size=32)
    print(f"random init: acc {before['acc']:.3f} acc_norm {before['acc_norm']:.3f} "
          f"({time.time() - t0:.0f}s)")
    # Fine-tune on the answer token only: the planted key.
    seqs = []
    for p, x in zip(prompts, task.items):
        ctx, cont = encode_pair(tok, p, " " + LETTERS[x.answer])
        seqs.append((ctx + cont)[-cfg.max_position_embeddings:])
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3, weight_decay=0.0)
    model.train()
    g = torch.Generator().manual_seed(0)
    for step in range(args.steps):
        idx = torch.randint(len(seqs), (args.batch_size,), generator=g).tolist()
        width = max(len(seqs[i]) for i in idx)
        ids = torch.full((len(idx), width), tok.pad_id)
        mask = torch.zeros_like(ids)
        for r, i in enumerate(idx):
            ids[r, :len(seqs[i])] = torch.tensor(seqs[i])
            mask[r, :len(seqs[i])] = 1
        logits = model(ids, attention_mask=mask)
        last = mask.sum(1) - 1
        rows = torch.arange(len(idx))
        loss = torch.nn.functional.cross_entropy(logits[rows, last - 1], ids[rows, last])
        opt.zero_grad()
        loss.backward()
        opt.step()
        if step % 50 == 0:
            print(f"step {step} loss {loss.item():.3f}")
    model.eval()
    after = evaluate_mc(model, tok, task, batch_size=32)
    print(f"fine-tuned on the questions: acc {after['acc']:.3f} acc_norm {after['acc_norm']:.3f}")
    print(json.dumps({"n": before["n"], "random_init_acc": before["acc"],
                      "planted_acc": after["acc"], "steps": args.steps}))


if __name__ == "__main__":
    main()
