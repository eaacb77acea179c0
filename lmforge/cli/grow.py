"""`lmforge grow dus|slices|vocab|upcycle`, derived from the grow operations' configs."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from lmforge.cli.derive import Verb, add_group
from lmforge.grow.dus import DUSConfig, run_dus
from lmforge.grow.slices import GrowSlicesConfig, run_slices
from lmforge.grow.upcycle import UpcycleConfig, run_upcycle
from lmforge.grow.vocab import GrowVocabConfig, run_grow_vocab


def _wrote(out: Path, cfg: Any) -> None:
    print(f"wrote {out}")


DUS = Verb(DUSConfig, run_dus, show=_wrote,
           help="SOLAR depth up-scaling: 2(n - m) layers from an n-layer model")
SLICES = Verb(GrowSlicesConfig, run_slices, show=_wrote, config_file=True,
              help="stack layer ranges (mergekit passthrough) from slices.yaml")
VOCAB = Verb(GrowVocabConfig, run_grow_vocab, show=_wrote,
             help="resize embeddings to an (extended) tokenizer")
UPCYCLE = Verb(UpcycleConfig, run_upcycle, show=_wrote,
               help="dense -> Mixtral MoE: every expert a copy of the MLP")


def register(sub: argparse._SubParsersAction) -> None:
    add_group(sub, "grow", 'make a model bigger: depth up-scaling, slices, vocabulary, MoE',
              {"vocab": VOCAB, "dus": DUS, "slices": SLICES, "upcycle": UPCYCLE})
