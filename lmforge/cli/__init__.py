"""`lmforge VERB ...`: each stage's module registers its own verbs; this file only dispatches."""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from typing import Sequence

from lmforge.cli.derive import config_keys, split_overrides
from lmforge.errors import UserError

# Each module defines `register(subparsers)`; a handler is set with `set_defaults(func=...)`.
COMMAND_MODULES = [
    "lmforge.cli.model",
    "lmforge.cli.data",
    "lmforge.cli.tokenizer",
    "lmforge.cli.grow",
    "lmforge.cli.train",
    "lmforge.cli.scaling",
    "lmforge.cli.export",
    "lmforge.cli.serve",
    "lmforge.cli.eval",
    "lmforge.cli.sft_data",
    "lmforge.cli.select",
    "lmforge.cli.recipes",
    "lmforge.cli.rl",
    "lmforge.cli.distill",
]



def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="lmforge",
        description="Build small bilingual (Chinese + English) LLMs end to end.")
    parser.add_argument("--debug", action="store_true", help="show full tracebacks on errors")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(sub)
    return parser


def subcommands(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    """A parser's sub-parsers by name (argparse keeps them only in its actions)."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return dict(action.choices)
    return {}


def parse(parser: argparse.ArgumentParser, argv: list[str]) -> argparse.Namespace:
    """Find the verb's own parser, take its key=value overrides from anywhere on the line, and
    parse the rest; `args.overrides` holds the overrides, `args.command_path` the verb's words."""
    node, words, i = parser, [], 0
    while i < len(argv) and not hasattr(node, "lmforge_verb"):
        subs = subcommands(node)
        if argv[i] in subs:
            node, words = subs[argv[i]], words + [argv[i]]
        elif not argv[i].startswith("-") or not subs:
            break
        i += 1
    verb = getattr(node, "lmforge_verb", None)
    if verb is None:
        return parser.parse_args(argv)
    keys = None if verb.any_override else config_keys(verb.config)
    rest, overrides = split_overrides(argv[i:], node, keys)
    args = parser.parse_args(argv[:i] + rest)
    args.overrides, args.command_path = overrides, " ".join(words)
    return args


# libgomp (torch's CPU threads) spin-waits up to 300,000 times before sleeping, which makes two
# jobs sharing the cores 23x slower per step instead of 2x (docs/training.md, measured); 10,000
# keeps one job within ~4% of the default. Set before torch loads; a user's own value wins.
OPENMP_SPIN_DEFAULTS = {"GOMP_SPINCOUNT": "10000"}


def limit_openmp_spin() -> None:
    for key, value in OPENMP_SPIN_DEFAULTS.items():
        os.environ.setdefault(key, value)


def main(argv: Sequence[str] | None = None) -> int:
    limit_openmp_spin()
    parser = build_parser()
    args = parse(parser, list(sys.argv[1:] if argv is None else argv))
    try:
        result = args.func(args)
    except UserError as e:  # the user's to fix: one clear message, no traceback; bugs keep theirs
        if args.debug:
            raise
        print(f"lmforge {args.command_path if hasattr(args, 'command_path') else args.command}: "
              f"error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    return int(result or 0)


if __name__ == "__main__":
    sys.exit(main())
