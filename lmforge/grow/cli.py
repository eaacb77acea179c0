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


def cmd_vocab(args: argparse.Namespace) -> None:
    from lmforge.grow.vocab import grow_vocab

    out = grow_vocab(args.model, args.tokenizer, args.out, args.init)
    print(f"wrote {out}")
