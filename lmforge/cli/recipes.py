"""`lmforge run RECIPE [key=value ...]` and `lmforge demo`, derived from their configs."""

from __future__ import annotations

import argparse

from lmforge.cli.derive import Verb, add_verb
from lmforge.demo import DemoConfig, demo
from lmforge.recipes.find import RunConfig, run_named

RUN = Verb(RunConfig, run_named, positional=("recipe",), any_override=True,
           help="run a recipe's stages in order (resumes after a crash); key=value overrides the recipe")
DEMO = Verb(DemoConfig, demo, any_override=True,
            help="run the whole pipeline on built-in data (the shipped recipe demo)")


def register(sub: argparse._SubParsersAction) -> None:
    add_verb(sub, "demo", DEMO)
    add_verb(sub, "run", RUN)
