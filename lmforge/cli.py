"""`lmforge VERB ...`: each stage's module registers its own verbs; this file only dispatches."""

from __future__ import annotations

import argparse
import importlib
import sys
from typing import Sequence

# Each module defines `register(subparsers)`; a handler is set with `set_defaults(func=...)`.
COMMAND_MODULES = [
    "lmforge.model.cli",
    "lmforge.demo",
    "lmforge.data.cli",
    "lmforge.tokenizer.cli",
    "lmforge.grow.cli",
    "lmforge.train.cli",
    "lmforge.scaling.cli",
    "lmforge.export.cli",
    "lmforge.serve.cli",
    "lmforge.eval.cli",
    "lmforge.sft.cli",
    "lmforge.sft.data_cli",
    "lmforge.select.cli",
    "lmforge.recipes.cli",
]

# Errors that are the user's to fix: printed as one clear message, no traceback.
USER_ERRORS: tuple[type[BaseException], ...] = (ValueError, FileNotFoundError, KeyError)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="lmforge",
        description="Build small bilingual (Chinese + English) LLMs end to end.")
    parser.add_argument("--debug", action="store_true", help="show full tracebacks on errors")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        result = args.func(args)
    except USER_ERRORS as e:
        if args.debug:
            raise
        msg = e.args[0] if isinstance(e, KeyError) and e.args else e
        print(f"lmforge {args.command}: error: {msg}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    return int(result or 0)


if __name__ == "__main__":
    sys.exit(main())
