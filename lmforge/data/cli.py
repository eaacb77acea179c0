"""`lmforge data clean|dedup|pack|demo-corpus`."""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path


def register(sub: argparse._SubParsersAction) -> None:
    data = sub.add_parser("data", help="clean, deduplicate and pack a pretraining corpus")
    verbs = data.add_subparsers(dest="data_command", metavar="VERB", required=True)

    def inputs(p: argparse.ArgumentParser) -> None:
        p.add_argument("--input", nargs="+", required=True,
                       help="files, folders or globs (txt, jsonl, json, parquet; .gz/.zst)")
        p.add_argument("--field", default="text", help="text field of jsonl/json/parquet")
        p.add_argument("--txt-mode", choices=["file", "paragraph", "line"], default="file",
                       help="a .txt file is one document, one per blank-line paragraph, or per line")
        p.add_argument("--strict", action="store_true", help="stop at the first malformed record")
        p.add_argument("--source", help="source name (default: each input file's stem)")

    clean = verbs.add_parser("clean", help="clean + deduplicate into <out>/<source>.jsonl + report")
    inputs(clean)
    clean.add_argument("--steps", help="YAML list of {step: {params}} (default: the built-in list)")
    clean.add_argument("--no-dedup", action="store_true")
    clean.add_argument("--threshold", type=float, default=0.8, help="MinHash near-dup Jaccard threshold")
    clean.add_argument("--out", required=True)
    clean.set_defaults(func=cmd_clean)

    dedup = verbs.add_parser("dedup", help="deduplicate only (exact + MinHash LSH)")
    inputs(dedup)
    dedup.add_argument("--threshold", type=float, default=0.8)
    dedup.add_argument("--out", required=True)
    dedup.set_defaults(func=cmd_dedup)

    pack = verbs.add_parser("pack", help="tokenize into uint16/uint32 shards + manifest")
    inputs(pack)
    pack.add_argument("--tokenizer", required=True, help="tokenizer folder")
    pack.add_argument("--val-fraction", type=float, default=0.01)
    pack.add_argument("--shard-tokens", type=int, default=1 << 24)
    pack.add_argument("--workers", type=int, default=os.cpu_count() or 1,
                      help="tokenizer batches in flight (default: all cores)")
    pack.add_argument("--out", required=True)
    pack.set_defaults(func=cmd_pack)

    demo = verbs.add_parser("demo-corpus", help="write the built-in bilingual corpus as jsonl")
    demo.add_argument("--max-chars", type=int, default=2_000_000)
    demo.add_argument("--out", required=True)
    demo.set_defaults(func=cmd_demo_corpus)


def _sources(args: argparse.Namespace) -> dict:
    from lmforge.data.read import ReadStats, documents_by_source, expand, read_documents

    if args.source:
        return {args.source: read_documents(expand(args.input), args.field, args.txt_mode, args.strict,
                                            ReadStats())}
    return documents_by_source(args.input, args.field, args.txt_mode, args.strict)


def cmd_clean(args: argparse.Namespace) -> None:
    from lmforge.config import read_yaml
    from lmforge.data.pipeline import process_sources

    steps = None
    if args.steps:
        steps = read_yaml(args.steps).get("steps")
        if not isinstance(steps, list):
            raise ValueError(f"{args.steps}: expected a top-level `steps:` list")
    report = process_sources(_sources(args), args.out, steps, dedup=not args.no_dedup,
                             dedup_threshold=args.threshold)
    print((Path(args.out) / "report.md").read_text())
    print(json.dumps({k: v["docs_out"] for k, v in report["sources"].items()}))


def cmd_dedup(args: argparse.Namespace) -> None:
    from lmforge.data.pipeline import process_sources

    process_sources(_sources(args), args.out, clean_steps=[], dedup=True, dedup_threshold=args.threshold)
    print((Path(args.out) / "report.md").read_text())


def cmd_pack(args: argparse.Namespace) -> None:
    from lmforge.data.pack import pack_texts
    from lmforge.tokenizer import Tokenizer

    out = pack_texts(_sources(args), Tokenizer.from_dir(args.tokenizer), args.out,
                     val_fraction=args.val_fraction, shard_tokens=args.shard_tokens,
                     workers=args.workers)
    print(json.dumps(json.loads((out / "manifest.json").read_text())["sources"], indent=2))


def cmd_demo_corpus(args: argparse.Namespace) -> None:
    from lmforge.data.corpus import demo_corpus
    from lmforge.data.pipeline import write_jsonl_atomic

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    for name, docs in demo_corpus(args.max_chars).items():
        n = write_jsonl_atomic(out / f"{name}.jsonl", ({"text": d} for d in docs))
        print(f"{out / name}.jsonl: {n} documents")
