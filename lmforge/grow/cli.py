"""`lmforge grow dus|slices|vocab|upcycle`."""

from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction) -> None:
    grow = sub.add_parser("grow", help="make a model bigger: depth up-scaling, slices, vocabulary")
    verbs = grow.add_subparsers(dest="grow_command", metavar="VERB", required=True)

    vocab = verbs.add_parser("vocab", help="resize embeddings to an (extended) tokenizer")
    vocab.add_argument("--model", required=True)
    vocab.add_argument("--tokenizer", required=True)
    vocab.add_argument("--init", choices=["mean", "normal"], default="mean")
    vocab.add_argument("--out", required=True)
    vocab.set_defaults(func=cmd_vocab)

    dus = verbs.add_parser("dus", help="SOLAR depth up-scaling: 2(n - m) layers from an n-layer model")
    dus.add_argument("--model", required=True)
    how = dus.add_mutually_exclusive_group(required=True)
    how.add_argument("--drop", type=int, help="m: layers dropped from each copy (0 = repeat 2n)")
    how.add_argument("--target-layers", type=int, help="s = 2(n - m); m is derived")
    dus.add_argument("--out", required=True)
    dus.set_defaults(func=cmd_dus)

    slices = verbs.add_parser("slices", help="stack layer ranges (mergekit passthrough) from a YAML")
    slices.add_argument("--config", required=True, help="slices.yaml: slices: [{model, layer_range}]")
    slices.add_argument("--out", required=True)
    slices.set_defaults(func=cmd_slices)

    up = verbs.add_parser("upcycle", help="dense -> Mixtral MoE: every expert a copy of the MLP")
    up.add_argument("--model", required=True)
    up.add_argument("--experts", type=int, default=8)
    up.add_argument("--top-k", type=int, default=2)
    up.add_argument("--router-std", type=float, default=0.01, help="router init std (small: outputs equal the dense model either way)")
    up.add_argument("--out", required=True)
    up.set_defaults(func=cmd_upcycle)


def cmd_vocab(args: argparse.Namespace) -> None:
    from lmforge.grow.vocab import grow_vocab

    out = grow_vocab(args.model, args.tokenizer, args.out, args.init)
    print(f"wrote {out}")


def cmd_dus(args: argparse.Namespace) -> None:
    from lmforge.grow.dus import depth_upscale

    print(f"wrote {depth_upscale(args.model, args.out, args.drop, args.target_layers)}")


def cmd_slices(args: argparse.Namespace) -> None:
    from lmforge.grow.slices import grow_slices

    print(f"wrote {grow_slices(args.config, args.out)}")


def cmd_upcycle(args: argparse.Namespace) -> None:
    from lmforge.grow.upcycle import upcycle

    print(f"wrote {upcycle(args.model, args.out, args.experts, args.top_k, args.router_std)}")
