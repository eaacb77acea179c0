"""`lmforge select entropy`, derived from `SelectConfig`."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from lmforge.cli.derive import Verb, add_group
from lmforge.select.entropy import SelectConfig, run_select


def _show(r: dict[str, Any], cfg: SelectConfig) -> None:
    print(f"base entropy {r['base_entropy']:.3f}; selected {r['selected']} of {r['scored']} -> "
          f"{Path(cfg.out) / 'selected.jsonl'}")
    for t in r["clusters"]:
        print(f"cluster {t['cluster']}: n={t['count']} mean={t['mean']:.3f} [{t['min']:.3f}, {t['max']:.3f}]")


ENTROPY = Verb(SelectConfig, run_select, show=_show,
               help="MindLLM data entropy: score, cluster, select a band")


def register(sub: argparse._SubParsersAction) -> None:
    add_group(sub, "select", 'select instruction data',
              {"entropy": ENTROPY})
