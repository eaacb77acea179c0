"""Every fuzz case, and the verbs the CLI has (so a verb without cases is noticed)."""

from __future__ import annotations

from collections import Counter

from lmforge.cli import build_parser, subcommands
from tests.fuzz import cases_data, cases_distill, cases_model, cases_rl, cases_train
from tests.fuzz.case import Case

CASES: list[Case] = [*cases_data.CASES, *cases_model.CASES, *cases_train.CASES, *cases_rl.CASES,
                     *cases_distill.CASES]


def cli_verbs() -> list[str]:
    """Every runnable verb of `lmforge`, as its words ("data clean", "pretrain", ...)."""
    def walk(parser, words: list[str]) -> list[str]:
        subs = subcommands(parser)
        if not subs:
            return [" ".join(words)]
        return [v for name, p in subs.items() for v in walk(p, [*words, name])]
    return walk(build_parser(), [])


def per_verb() -> Counter:
    return Counter(c.verb or "lmforge" for c in CASES)
