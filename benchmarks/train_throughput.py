"""Training tokens/s: lmforge's model + training loop vs transformers' LlamaForCausalLM in a plain loop.

Same shape, batch, threads, clipping, precision and optimizer: both sides get AdamW from
lmforge.train.optim.build_optimizer (the same parameter groups, and fused wherever lmforge fuses),
so the ratio measures the model and its loss path, not the optimizer. One process; the two sides
alternate (ABAB) --repeats times so drift in machine load hits both alike; each side's best run
counts, and the ratio of every A/B pair is printed with the best, median and spread of those.
Target on CPU: >= 1.2. On CUDA, MFU too.

    python benchmarks/train_throughput.py                         # CPU, demo-sized model
    python benchmarks/train_throughput.py --size vocab125k        # MindLLM's 125,700 vocabulary
    python benchmarks/train_throughput.py --size 1b --device cuda --compile
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from contextlib import nullcontext
from pathlib import Path

import torch

from lmforge.model import build_model, preset
from lmforge.model.flops import flops_per_token, param_count, peak_flops
from lmforge.model.io import hf_config
from lmforge.train.config import TrainConfig
from lmforge.train.objectives import causal_lm
from lmforge.train.optim import build_optimizer
from lmforge.train.trainer import train

SIZES = {  # Llama shapes; vocab 32k as in Llama 2 / TinyLlama
    "demo": dict(vocab_size=4096, hidden_size=192, intermediate_size=512, num_hidden_layers=4,
                 num_attention_heads=6, num_key_value_heads=2, tie_word_embeddings=False),
    "vocab125k": dict(vocab_size=125_700, hidden_size=192, intermediate_size=512, num_hidden_layers=4,
                      num_attention_heads=6, num_key_value_heads=2, tie_word_embeddings=False),
    "125m": dict(vocab_size=32000, hidden_size=768, intermediate_size=2048, num_hidden_layers=12,
                 num_attention_heads=12, num_key_value_heads=12, tie_word_embeddings=False),
    "1b": dict(vocab_size=32000, hidden_size=2048, intermediate_size=5632, num_hidden_layers=22,
               num_attention_heads=32, num_key_value_heads=4, tie_word_embeddings=False),
}


class FixedBatches:
    """Random tokens from a fixed seed; the same stream for both sides."""

    def __init__(self, vocab: int, batch: int, seq: int, device: str) -> None:
        self.g = torch.Generator().manual_seed(0)
        self.vocab, self.batch, self.seq, self.device = vocab, batch, seq, device

    def next_batch(self) -> dict[str, torch.Tensor]:
        ids = torch.randint(0, self.vocab, (self.batch, self.seq), generator=self.g).to(self.device)
        return {"input_ids": ids, "labels": ids}

    def state_dict(self) -> dict:
        return {}

    def load_state_dict(self, state: dict) -> None:
        pass


def run_lmforge(cfg, args, device: str) -> float:
    model = build_model(cfg)
    tcfg = TrainConfig(max_steps=args.warmup + args.steps, batch_size=args.batch, seq_len=args.seq,
                       lr=3e-4, schedule="constant", device=device, compile=args.compile,
                       precision=args.precision, activation_checkpointing=args.checkpointing)
    with tempfile.TemporaryDirectory() as tmp:
        train(model, causal_lm, FixedBatches(cfg.vocab_size, args.batch, args.seq, device), tcfg, tmp)
        rows = [json.loads(x) for x in (Path(tmp) / "metrics.jsonl").read_text().splitlines()]
    return statistics.median(r["tokens_per_s"] for r in rows[args.warmup:])


def run_transformers(cfg, args, device: str) -> float:
    from transformers import LlamaConfig, LlamaForCausalLM

    hf = LlamaConfig(**{k: v for k, v in hf_config(cfg).items() if k not in ("architectures", "model_type")})
    model = LlamaForCausalLM._from_config(hf, attn_implementation="sdpa").to(device).train()
    model.gradient_checkpointing_enable() if args.checkpointing else None
    step_model = torch.compile(model) if args.compile else model
    opt = build_optimizer(model, TrainConfig(lr=3e-4, max_steps=1))  # lmforge's groups, fused as ours
    bf16 = args.precision == "bf16" or (args.precision == "auto" and device == "cuda")
    data = FixedBatches(cfg.vocab_size, args.batch, args.seq, device)
    rates = []
    for i in range(args.warmup + args.steps):
        batch = data.next_batch()
        t0 = time.perf_counter()
        with torch.autocast(device, dtype=torch.bfloat16) if bf16 else nullcontext():
            loss = step_model(input_ids=batch["input_ids"], labels=batch["labels"]).loss
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        opt.zero_grad(set_to_none=True)
        float(loss.detach())  # like the trainer, read the loss back (syncs CUDA)
        if i >= args.warmup:
            rates.append(args.batch * args.seq / (time.perf_counter() - t0))
    return statistics.median(rates)


def report(name: str, runs: list[float], cfg, args) -> None:
    peak = peak_flops(torch.cuda.get_device_name()) if args.device == "cuda" else None
    mfu = f", MFU {flops_per_token(cfg, args.seq) * max(runs) / peak:.1%}" if peak else ""
    print(f"{name:12s} best {max(runs):10,.0f} tok/s  (runs {min(runs):,.0f}..{max(runs):,.0f}, "
          f"spread {(max(runs) - min(runs)) / max(runs):.1%}){mfu}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--size", choices=list(SIZES), default="demo")
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--seq", type=int, default=256)
    ap.add_argument("--steps", type=int, default=10)
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--repeats", type=int, default=3, help="runs per side, alternating; best counts")
    ap.add_argument("--threads", type=int, default=torch.get_num_threads())
    ap.add_argument("--precision", choices=["auto", "fp32", "bf16"], default="auto")
    ap.add_argument("--compile", action="store_true")
    ap.add_argument("--checkpointing", action="store_true", help="activation checkpointing on both")
    ap.add_argument("--skip-peer", action="store_true", help="only lmforge (e.g. a model too big for two)")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    cfg = preset("tiny", **SIZES[args.size], max_position_embeddings=max(args.seq, 512))
    print(f"{args.size}: {param_count(cfg) / 1e6:.1f}M params, batch {args.batch}x{args.seq}, "
          f"{args.device}, {args.threads} threads, compile={args.compile}, best of {args.repeats}")
    ours, theirs = [], []
    for _ in range(args.repeats):  # alternate, so drift in machine load hits both sides alike
        ours.append(run_lmforge(cfg, args, args.device))
        if not args.skip_peer:
            if args.device == "cuda":
                torch.cuda.empty_cache()
            theirs.append(run_transformers(cfg, args, args.device))
    report("lmforge", ours, cfg, args)
    if theirs:
        report("transformers", theirs, cfg, args)
        pairs = [a / b for a, b in zip(ours, theirs)]
        print(f"ratio lmforge / transformers: {max(ours) / max(theirs):.2f}x best vs best; per A/B pair "
              f"{', '.join(f'{r:.2f}' for r in pairs)} (best {max(pairs):.2f}, median "
              f"{statistics.median(pairs):.2f}, spread {min(pairs):.2f}..{max(pairs):.2f})")


if __name__ == "__main__":
    main()
