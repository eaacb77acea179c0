"""The config a command line builds (what `lmforge VERB ...` would run), for tests that compare a
flag, its key=value and the recipe stage's field."""

from __future__ import annotations

from typing import Any

from lmforge.cli import build_parser, parse
from lmforge.cli.derive import build_config


def config_of(argv: list[str]) -> Any:
    args = parse(build_parser(), argv)
    return build_config(args.lmforge_verb, args, args.overrides)
