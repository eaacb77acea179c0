"""`lmforge export gguf`."""

from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction) -> None:
    export = sub.add_parser("export", help="export a model folder to other runtimes")
    verbs = export.add_subparsers(dest="export_command", metavar="FORMAT", required=True)
    g = verbs.add_parser("gguf", help="write a GGUF file for llama.cpp / llama-cpp-python / ollama")
    g.add_argument("--model", required=True, help="model folder (HF Llama/Qwen2 checkpoint)")
    g.add_argument("--out", required=True, help="output .gguf file")
    g.add_argument("--type", dest="out_type", default="f16", choices=["f32", "f16", "q8_0"],
                   help="weight type of the matrices (norms stay f32)")
    g.set_defaults(func=cmd_gguf)


def cmd_gguf(args: argparse.Namespace) -> None:
    from lmforge.export.gguf import export_gguf

    out = export_gguf(args.model, args.out, args.out_type)
    print(f"wrote {out} ({out.stat().st_size / 2**20:.1f} MiB, {args.out_type})")
