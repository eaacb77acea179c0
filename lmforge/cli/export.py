"""`lmforge export gguf`, derived from GGUFConfig."""

from __future__ import annotations

import argparse
from pathlib import Path

from lmforge.cli.derive import Verb, add_group
from lmforge.export.gguf import GGUFConfig, run_export_gguf


def _show(out: Path, cfg: GGUFConfig) -> None:
    print(f"wrote {out} ({out.stat().st_size / 2**20:.1f} MiB, {cfg.type})")


GGUF = Verb(GGUFConfig, run_export_gguf, show=_show, outputs={"out": "file"},
            help="write a GGUF file for llama.cpp / llama-cpp-python / ollama")


def register(sub: argparse._SubParsersAction) -> None:
    add_group(sub, "export", 'export a model folder to other runtimes',
              {"gguf": GGUF}, metavar="FORMAT")
