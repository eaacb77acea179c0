"""`lmforge tokenizer train|extend|stats`, derived from the tokenizer operations' configs."""

from __future__ import annotations

import argparse
import json
from typing import Any

from lmforge.cli.derive import Verb, add_group
from lmforge.tokenizer.core import Tokenizer
from lmforge.tokenizer.extend import ExtendConfig, run_extend
from lmforge.tokenizer.ops import TokenizerStatsConfig, TrainTokenizerConfig, run_tokenizer_stats, run_train_tokenizer
from lmforge.tokenizer.stats import format_stats

_AS_JSON = {"on": False}  # `tokenizer stats --json`: how the result is printed, not a setting


def _show_train(tok: Tokenizer, cfg: TrainTokenizerConfig) -> None:
    print(f"wrote {cfg.out}: {cfg.type}, {tok.vocab_size} tokens")


def _show_extend(info: dict[str, Any], cfg: ExtendConfig) -> None:
    print(json.dumps(info, indent=2))


def _json_flag(p: argparse.ArgumentParser) -> None:
    p.add_argument("--json", action="store_true", help="print the measurements as JSON")


def _remember_json(cfg: TokenizerStatsConfig, args: argparse.Namespace) -> None:
    _AS_JSON["on"] = args.json


def _show_stats(result: dict[str, Any], cfg: TokenizerStatsConfig) -> None:
    print(json.dumps(result, indent=2, ensure_ascii=False) if _AS_JSON["on"] else format_stats(result))


TRAIN = Verb(TrainTokenizerConfig, run_train_tokenizer, show=_show_train,
             help="train a tokenizer on text files")
EXTEND = Verb(ExtendConfig, run_extend, show=_show_extend,
              help="append another tokenizer's pieces (ids of the base unchanged)")
STATS = Verb(TokenizerStatsConfig, run_tokenizer_stats, show=_show_stats, positional=("tokenizer",),
             extra_args=_json_flag, before=_remember_json,
             help="efficiency on zh and en text, round trip, overlap")


def register(sub: argparse._SubParsersAction) -> None:
    add_group(sub, "tokenizer", 'train, extend and measure tokenizers',
              {"train": TRAIN, "extend": EXTEND, "stats": STATS})
