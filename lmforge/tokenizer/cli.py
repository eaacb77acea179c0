"""`lmforge tokenizer train|extend|stats`."""

from __future__ import annotations

import argparse
import json


def register(sub: argparse._SubParsersAction) -> None:
    tok = sub.add_parser("tokenizer", help="train, extend and measure tokenizers")
    verbs = tok.add_subparsers(dest="tokenizer_command", metavar="VERB", required=True)

    train = verbs.add_parser("train", help="train a tokenizer on text files")
    train.add_argument("--input", nargs="+", required=True, help="files/folders/globs (txt, jsonl, parquet, .gz/.zst)")
    train.add_argument("--field", default="text", help="text field of jsonl/parquet records")
    train.add_argument("--vocab-size", type=int, required=True)
    train.add_argument("--type", default="bytelevel-bpe",
                       choices=["bytelevel-bpe", "sentencepiece-bpe", "sentencepiece-unigram", "wordpiece", "unigram"])
    train.add_argument("--chat-template", default="chatml", choices=["chatml", "solar"])
    train.add_argument("--sample-chars", type=int, help="train on at most this many characters")
    train.add_argument("--out", required=True)
    train.set_defaults(func=cmd_train)

    ext = verbs.add_parser("extend", help="append another tokenizer's pieces (ids of the base unchanged)")
    ext.add_argument("--base", required=True, help="base tokenizer folder")
    ext.add_argument("--add", help="tokenizer folder (or SentencePiece .model) whose pieces to add")
    ext.add_argument("--train-on", nargs="+", help="train the added tokenizer on these files first")
    ext.add_argument("--add-size", type=int, default=8000, help="vocabulary of the trained addition")
    ext.add_argument("--field", default="text")
    ext.add_argument("--out", required=True)
    ext.set_defaults(func=cmd_extend)

    stats = verbs.add_parser("stats", help="efficiency on zh and en text, round trip, overlap")
    stats.add_argument("tokenizer")
    stats.add_argument("--input", nargs="+", required=True)
    stats.add_argument("--field", default="text")
    stats.add_argument("--compare", help="another tokenizer folder for vocabulary overlap and ratios")
    stats.add_argument("--max-chars", type=int, default=2_000_000)
    stats.add_argument("--json", action="store_true")
    stats.set_defaults(func=cmd_stats)


def cmd_train(args: argparse.Namespace) -> None:
    from lmforge.tokenizer.train import read_training_texts, train_tokenizer

    tok = train_tokenizer(read_training_texts(args.input, args.field), args.vocab_size, args.out,
                          args.type, args.chat_template, args.sample_chars)
    print(f"wrote {args.out}: {args.type}, {tok.vocab_size} tokens")


def cmd_extend(args: argparse.Namespace) -> None:
    from lmforge.tokenizer.extend import extend_tokenizer

    info = extend_tokenizer(args.base, args.add, args.out, train_on=args.train_on,
                            add_size=args.add_size, text_field=args.field)
    print(json.dumps(info, indent=2))


def cmd_stats(args: argparse.Namespace) -> None:
    from lmforge.tokenizer.stats import format_stats, tokenizer_stats

    result = tokenizer_stats(args.tokenizer, args.input, args.field, args.compare, args.max_chars)
    print(json.dumps(result, indent=2, ensure_ascii=False) if args.json else format_stats(result))
