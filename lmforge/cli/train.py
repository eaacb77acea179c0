"""`lmforge pretrain|sft|dpo CONFIG.yaml [flags] [key=value ...]`, derived from their configs."""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from lmforge.cli.derive import Verb, add_verb
from lmforge.sft.finetune import DPOConfig, SFTConfig, TunePlan, run_dpo, run_sft
from lmforge.train.pretrain import PretrainConfig, PretrainPlan, prepare_run_dir, run_pretrain
from lmforge.train.trainer import TrainResult


def _resume_flags(p: argparse.ArgumentParser) -> None:
    when = p.add_mutually_exclusive_group()
    when.add_argument("--resume", action="store_true",
                      help="require a checkpoint in the run folder (resuming is automatic when one exists)")
    when.add_argument("--fresh", action="store_true", help="delete checkpoints in the run folder first")


def _before_pretrain(cfg: PretrainConfig, args: argparse.Namespace) -> None:
    if not cfg.dry_run:
        prepare_run_dir(cfg.out, "require" if args.resume else "fresh" if args.fresh else "auto")


def _show_pretrain(outcome: tuple[TrainResult, dict] | PretrainPlan, cfg: PretrainConfig) -> None:
    if isinstance(outcome, PretrainPlan):
        print(outcome.summary())
        return
    result, seen = outcome
    if os.environ.get("RANK", "0") != "0":
        return
    state = "interrupted (checkpoint saved; rerun to resume)" if result.interrupted else "done"
    print(f"{state}: step {result.step}, {result.tokens:,} tokens, loss {result.loss}, "
          f"val_loss {result.val_loss}, tokens by source {seen}; model: {result.model_dir}")


def _show_tuned(result: TrainResult | TunePlan, cfg: SFTConfig) -> None:
    if isinstance(result, TunePlan):
        print(result.summary())
        return
    print(f"done: step {result.step}, loss {result.loss}; model in {Path(cfg.out) / 'model'}")


PRETRAIN = Verb(PretrainConfig, run_pretrain, config_file=True, show=_show_pretrain,
                help="pretrain or continue pretraining (torchrun for many GPUs)",
                extra_args=_resume_flags, before=_before_pretrain)
SFT = Verb(SFTConfig, run_sft, config_file=True, show=_show_tuned,
           help="supervised fine-tuning with loss on assistant tokens only")
DPO = Verb(DPOConfig, run_dpo, config_file=True, show=_show_tuned,
           help="direct preference optimisation (sigmoid / IPO / SimPO)")


def register(sub: argparse._SubParsersAction) -> None:
    add_verb(sub, "pretrain", PRETRAIN)
    add_verb(sub, "sft", SFT)
    add_verb(sub, "dpo", DPO)
