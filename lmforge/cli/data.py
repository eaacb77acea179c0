"""`lmforge data clean|dedup|pack|demo-corpus`, derived from the data operations' configs."""

from __future__ import annotations

import argparse
import json
from typing import Any

from lmforge.cli.derive import Verb, add_group
from lmforge.data.ops import (CleanConfig, CleanResult, DedupConfig, DemoCorpusConfig, run_clean, run_dedup,
                              run_demo_corpus)
from lmforge.tokens.packing import PackConfig, run_pack


def _show_clean(result: CleanResult, cfg: Any) -> None:
    print((result.out / "report.md").read_text(encoding="utf-8"))
    print(json.dumps({k: v["docs_out"] for k, v in result.report["sources"].items()}))


def _show_pack(sources: dict[str, Any], cfg: PackConfig) -> None:
    print(json.dumps(sources, indent=2))


def _show_demo(written: dict[str, int], cfg: DemoCorpusConfig) -> None:
    for path, n in written.items():
        print(f"{path}: {n} documents")


CLEAN = Verb(CleanConfig, run_clean, show=_show_clean, aliases={"--steps": "steps"},
             help="clean + deduplicate into <out>/<source>.jsonl + report")
DEDUP = Verb(DedupConfig, run_dedup, show=_show_clean, help="deduplicate only (exact + MinHash LSH)")
PACK = Verb(PackConfig, run_pack, show=_show_pack, help="tokenize into uint16/uint32 shards + manifest")
DEMO_CORPUS = Verb(DemoCorpusConfig, run_demo_corpus, show=_show_demo,
                   help="write the built-in bilingual corpus as jsonl")


def register(sub: argparse._SubParsersAction) -> None:
    add_group(sub, "data", 'clean, deduplicate and pack a pretraining corpus',
              {"clean": CLEAN, "dedup": DEDUP, "pack": PACK, "demo-corpus": DEMO_CORPUS})
