"""`lmforge eval mc|gsm8k|translation|perplexity|contamination|elo`, derived from their configs."""

from __future__ import annotations

import argparse
from typing import Any

from lmforge.cli.derive import Verb, add_group
from lmforge.eval.contamination import ContaminationConfig, run_contamination
from lmforge.eval.elo import EloConfig, run_elo
from lmforge.eval.multiple_choice import MCEvalConfig, run_mc_eval
from lmforge.eval.operation import EvalResult
from lmforge.eval.perplexity import PerplexityConfig, run_perplexity
from lmforge.eval.tasks.gsm8k import GSM8KConfig, run_gsm8k
from lmforge.eval.tasks.translation import TranslationConfig, run_translation


def _tasks_flag(p: argparse.ArgumentParser) -> None:
    p.add_argument("--tasks", dest="tasks", metavar="TASK[=DIR],...", default=argparse.SUPPRESS,
                   help="comma list of TASK=DIR, or TASK alone for a sub-folder of --data-dir "
                        "(ceval, cmmlu, mmlu, agieval, jsonl, evals-mc)")


def _show(result: EvalResult, cfg: Any) -> None:
    print(result.report, end="")
    if result.out is not None:
        print(f"results: {result.out / 'results.json'}, {result.out / 'results.md'}")


MC = Verb(MCEvalConfig, run_mc_eval, show=_show, extra_args=_tasks_flag,
          help="multiple choice (C-Eval, CMMLU, MMLU, AGIEval, jsonl) by log-likelihood, lm-eval compatible")
GSM8K = Verb(GSM8KConfig, run_gsm8k, show=_show, help="GSM8K-style math by greedy generation")
TRANSLATION = Verb(TranslationConfig, run_translation, show=_show,
                   help="zh<->en translation by greedy generation, BLEU and chrF")
PERPLEXITY = Verb(PerplexityConfig, run_perplexity, show=_show, help="perplexity and bits per byte on text files")
CONTAMINATION = Verb(ContaminationConfig, run_contamination, show=_show, extra_args=_tasks_flag,
                     help="n-gram overlap of benchmark questions with a corpus (text or packed)")
ELO = Verb(EloConfig, run_elo, show=_show, help="Elo ratings from pairwise judgments of models' answers")

VERBS = {"mc": MC, "gsm8k": GSM8K, "translation": TRANSLATION, "perplexity": PERPLEXITY,
         "contamination": CONTAMINATION, "elo": ELO}


def register(sub: argparse._SubParsersAction) -> None:
    add_group(sub, "eval", "evaluate a model folder (each kind writes results.json + results.md to --out)",
              VERBS, metavar="KIND")
