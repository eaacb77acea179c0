"""`lmforge select entropy --model DIR --data FILE --heldout TXT --out DIR`."""

from __future__ import annotations

import argparse
from pathlib import Path


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("select", help="select instruction data")
    verbs = p.add_subparsers(dest="select_cmd", required=True)
    e = verbs.add_parser("entropy", help="MindLLM data entropy: score, cluster, select a band")
    e.add_argument("--model", required=True, help="base model folder")
    e.add_argument("--data", required=True, help="instruction jsonl (any SFT schema)")
    e.add_argument("--heldout", required=True, help="held-out pretraining text, one document per line")
    e.add_argument("--out", required=True)
    e.add_argument("--low", type=float, default=1.0, help="band start above base entropy (nats)")
    e.add_argument("--high", type=float, default=1.5, help="band end above base entropy (nats)")
    e.add_argument("--clusters", type=int, default=5)
    e.add_argument("--batch-size", type=int, default=16)
    e.set_defaults(func=cmd_entropy)


def cmd_entropy(args: argparse.Namespace) -> None:
    from lmforge.select.entropy import select_by_entropy

    docs = [line.strip() for line in Path(args.heldout).read_text(encoding="utf-8").splitlines() if line.strip()]
    if not docs:
        raise ValueError(f"--heldout: {args.heldout} has no text")
    r = select_by_entropy(args.model, args.data, docs, args.out, args.low, args.high, args.clusters,
                          args.batch_size)
    print(f"base entropy {r['base_entropy']:.3f}; selected {r['selected']} of {r['scored']} -> "
          f"{args.out}/selected.jsonl")
    for t in r["clusters"]:
        print(f"cluster {t['cluster']}: n={t['count']} mean={t['mean']:.3f} [{t['min']:.3f}, {t['max']:.3f}]")
