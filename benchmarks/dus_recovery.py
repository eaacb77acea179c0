"""SOLAR's depth up-scaling claim in miniature, plus sparse upcycling, on the demo corpus.

Pretrain an n-layer base, then continue K steps from each of: the base itself, its DUS-grown
copy (drop m -> 2(n - m) layers), the 2n-repeat copy, and an upcycled MoE. Prints validation
loss right after growth and after K steps, with parameter counts (total and active).

    .venv/bin/python benchmarks/dus_recovery.py --base-steps 300 --k 100
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

import torch

from lmforge.data.corpus import demo_corpus
from lmforge.tokens.loader import DataConfig, TokenLoader
from lmforge.tokens.pack import pack_texts
from lmforge.grow.dus import depth_upscale
from lmforge.grow.upcycle import upcycle
from lmforge.model import build_model, load_model, preset
from lmforge.model.flops import param_count
from lmforge.tokenizer import byte_tokenizer
from lmforge.train.config import TrainConfig
from lmforge.train.objectives import causal_lm
from lmforge.train.trainer import evaluate, train


def run(base_steps: int, k: int, layers: int, drop: int, chars: int, out: Path) -> list[dict]:
    torch.manual_seed(0)
    tok = byte_tokenizer()
    data = pack_texts(demo_corpus(chars), tok, out / "data", val_fraction=0.05)
    seq, batch = 128, 8
    val = TokenLoader(DataConfig(path=str(data)), seq, batch, split="val")

    def val_loss(model) -> float:
        return evaluate(model, causal_lm, val.eval_batches(8), torch.device("cpu"), torch.no_grad, 8)[0]

    def fit(model, steps: int, name: str, lr: float, seed: int):
        cfg = TrainConfig(max_steps=steps, batch_size=batch, seq_len=seq, lr=lr, warmup_steps=min(10, steps // 4),
                          schedule="cosine", device="cpu", precision="fp32", log_every=50, seed=seed)
        loader = TokenLoader(DataConfig(path=str(data)), seq, batch, seed=seed)
        res = train(model, causal_lm, loader, cfg, out / name)
        return load_model(res.model_dir)

    cfg = preset("demo", vocab_size=tok.vocab_size, num_hidden_layers=layers,
                 bos_token_id=tok.bos_id, eos_token_id=tok.eos_id, pad_token_id=tok.pad_id)
    base = fit(build_model(cfg, seed=0), base_steps, "base", 3e-3, seed=0)
    base_dir = out / "base" / "model"
    variants = {"base (+K steps)": base_dir,
                f"DUS drop {drop} ({2 * (layers - drop)} layers)": depth_upscale(base_dir, out / "dus", drop=drop),
                f"2n repeat ({2 * layers} layers)": depth_upscale(base_dir, out / "rep", drop=0),
                "upcycled MoE 8x top-2": upcycle(base_dir, out / "moe", experts=8, top_k=2)}
    rows = []
    for i, (name, folder) in enumerate(variants.items()):
        model = load_model(folder)
        before = val_loss(model)
        after = val_loss(fit(model, k, f"cont-{i}", 1e-3, seed=1))
        mcfg = model.config
        rows.append({"variant": name, "params": param_count(mcfg),
                     "active_params": param_count(mcfg, active=True),
                     "val_after_growth": round(before, 4), f"val_after_{k}_steps": round(after, 4)})
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--base-steps", type=int, default=300)
    ap.add_argument("--k", type=int, default=100)
    ap.add_argument("--layers", type=int, default=4)
    ap.add_argument("--drop", type=int, default=1)
    ap.add_argument("--chars", type=int, default=600_000)
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args()
    out = args.out or Path(tempfile.mkdtemp(prefix="dus-recovery-"))
    rows = run(args.base_steps, args.k, args.layers, args.drop, args.chars, out)
    keys = list(rows[0])
    print("| " + " | ".join(keys) + " |\n|" + "---|" * len(keys))
    for r in rows:
        print("| " + " | ".join(f"{r[c]:,}" if isinstance(r[c], int) else str(r[c]) for c in keys) + " |")
    (out / "dus_recovery.json").write_text(json.dumps(rows, indent=2))


if __name__ == "__main__":
    main()
