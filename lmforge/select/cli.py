"""`lmforge select entropy --model DIR --data FILE --heldout TXT --out DIR`."""

from __future__ import annotations

import argparse
import json
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
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from lmforge.data.pipeline import write_jsonl_atomic
    from lmforge.model import load_model
    from lmforge.model.io import atomic_dir
    from lmforge.select.entropy import cluster_table, response_entropy, select_band
    from lmforge.sft.data import read_jsonl
    from lmforge.tokenizer import Tokenizer

    tok, model = Tokenizer.from_dir(args.model), load_model(args.model)
    recs = list(read_jsonl(args.data))
    docs = [line.strip() for line in Path(args.heldout).read_text(encoding="utf-8").splitlines() if line.strip()]
    if not docs:
        raise ValueError(f"--heldout: {args.heldout} has no text")
    # base entropy: the same measure on plain text (the whole document as the "response")
    held = [{"messages": [{"role": "assistant", "content": d[:2000]}]} for d in docs[:256]]
    base_ent = response_entropy(model, tok, held, args.batch_size)
    base = sum(base_ent) / len(base_ent)
    ent = response_entropy(model, tok, recs, args.batch_size)
    labels, table = cluster_table(ent, args.clusters)
    picked = select_band(ent, base, args.low, args.high)
    with atomic_dir(args.out) as d:
        write_jsonl_atomic(d / "scored.jsonl", ({**r, "entropy": e, "cluster": int(c)} for r, e, c in zip(recs, ent, labels)))
        write_jsonl_atomic(d / "selected.jsonl", (recs[i] for i in picked))
        (d / "clusters.json").write_text(json.dumps({"base_entropy": base, "band": [base + args.low, base + args.high],
                                                     "clusters": table, "selected": len(picked)}, indent=1))
        plt.hist(ent, bins=40)
        for x in (base, base + args.low, base + args.high):
            plt.axvline(x, color="r", linestyle="--")
        plt.xlabel("response entropy (nats)"); plt.ylabel("samples")  # noqa: E702
        plt.savefig(d / "histogram.png", dpi=100); plt.close()  # noqa: E702
    print(f"base entropy {base:.3f}; selected {len(picked)} of {len(recs)} -> {args.out}/selected.jsonl")
    for t in table:
        print(f"cluster {t['cluster']}: n={t['count']} mean={t['mean']:.3f} [{t['min']:.3f}, {t['max']:.3f}]")
