"""The CLI reference (docs/cli.md), generated from the parser itself so it cannot drift:

    python -m lmforge.clidoc > docs/cli.md
"""

from __future__ import annotations

import argparse
import os

from lmforge.cli import build_parser, subcommands


def _sections(parser: argparse.ArgumentParser, prefix: str) -> list[str]:
    subs = subcommands(parser)
    if subs and prefix != "lmforge":
        out = []
    else:
        out = [f"## `{prefix}`", "", "```", parser.format_help().rstrip(), "```", ""]
    for name, sub in subs.items():
        out += _sections(sub, f"{prefix} {name}")
    return out


def reference() -> str:
    os.environ["COLUMNS"] = "100"  # stable wrapping whatever the terminal
    parser = build_parser()
    parser.prog = "lmforge"
    head = ["# lmforge command reference", "",
            "Generated from the CLI (`python -m lmforge.clidoc > docs/cli.md`); "
            "`lmforge VERB --help` prints the same.", ""]
    return "\n".join(head + _sections(parser, "lmforge"))


if __name__ == "__main__":
    print(reference(), end="")
