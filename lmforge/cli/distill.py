"""`lmforge distill CONFIG.yaml [flags] [key=value ...]`, derived from DistillConfig."""

from __future__ import annotations

import argparse

from lmforge.cli.derive import Verb, add_verb
from lmforge.distill.run import DistillConfig, DistillPlan, DistillResult, run_distill


def _show(r: DistillResult | DistillPlan, cfg: DistillConfig) -> None:
    if isinstance(r, DistillPlan):
        print(r.summary())
        return
    if r.train.interrupted:
        print(f"interrupted at step {r.train.step} (checkpoint saved; rerun to resume)")
        return
    val = "" if r.val_ce is None else f", validation cross-entropy {r.val_ce:.4f}"
    asked = "" if r.teacher_answers is None else f" on {r.teacher_answers} teacher answers"
    print(f"done ({r.mode}{asked}): step {r.train.step}, {r.train.tokens:,} tokens, loss {r.train.loss}{val}; "
          f"model in {r.model_dir}")


DISTILL = Verb(DistillConfig, run_distill, config_file=True, show=_show,
               help="distill a teacher into a student (white-box KL on logits, or black-box SFT on its answers)")


def register(sub: argparse._SubParsersAction) -> None:
    add_verb(sub, "distill", DISTILL)
