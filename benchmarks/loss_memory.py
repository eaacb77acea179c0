"""Peak memory of the loss step (LM head + cross-entropy, forward and backward) on CPU: full
logits vs lmforge's chunked loss. Each variant runs in its own process; the number is the growth
of the peak RSS (getrusage maxrss) over the RSS with the inputs and head weight in place.

    .venv/bin/python benchmarks/loss_memory.py [--vocab 125700 --seq 1024 --batch 4 --hidden 2048]
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time

import torch

from lmforge.model.loss import linear_cross_entropy


def rss_now_mb() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * resource.getpagesize() / 2**20


def measure(impl: str, args: argparse.Namespace) -> dict:
    g = torch.Generator().manual_seed(0)
    n = args.batch * (args.seq - 1)  # next-token targets of each row
    hidden = torch.randn(n, args.hidden, generator=g).requires_grad_()
    weight = (torch.randn(args.vocab, args.hidden, generator=g) * 0.02).requires_grad_()
    targets = torch.randint(0, args.vocab, (n,), generator=g)
    base = rss_now_mb()
    t0 = time.perf_counter()
    loss = linear_cross_entropy(hidden, weight, targets, impl)
    loss.backward()
    seconds = time.perf_counter() - t0
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {"impl": impl, "loss": round(float(loss), 5), "peak_growth_mb": round(peak - base, 1),
            "seconds": round(seconds, 2)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--vocab", type=int, default=125_700)
    ap.add_argument("--seq", type=int, default=1024)
    ap.add_argument("--batch", type=int, default=4)
    ap.add_argument("--hidden", type=int, default=2048)
    ap.add_argument("--impl", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.impl:
        print(json.dumps(measure(args.impl, args)))
        return
    shape = ["--vocab", str(args.vocab), "--seq", str(args.seq), "--batch", str(args.batch),
             "--hidden", str(args.hidden)]
    rows = [json.loads(subprocess.run([sys.executable, __file__, "--impl", impl, *shape], check=True,
                                      capture_output=True, text=True).stdout.splitlines()[-1])
            for impl in ("full", "chunked")]
    full_logits_mb = args.batch * (args.seq - 1) * args.vocab * 4 / 2**20
    print(json.dumps({"shape": vars(args) | {"impl": None}, "fp32_logits_mb": round(full_logits_mb),
                      "variants": rows,
                      "reduction": round(rows[0]["peak_growth_mb"] / max(rows[1]["peak_growth_mb"], 1), 1)},
                     indent=1))


if __name__ == "__main__":
    main()
