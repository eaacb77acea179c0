"""`lmforge eval mc`: multiple-choice benchmarks (C-Eval, CMMLU, MMLU, AGIEval, jsonl) scored by
log-likelihood of the answer letters as lm-evaluation-harness does, and optionally also answered
in free text by a chat model."""

from __future__ import annotations

from typing import Any

from pydantic import Field

from lmforge.errors import UserError
from lmforge.eval.generation import evaluate_mc_chat
from lmforge.eval.operation import (EvalResult, EvalSettings, ModelFolder, TaskSet, check_out, finish,
                                    load_model_for, markdown)
from lmforge.eval.runner import evaluate_mc
from lmforge.eval.tasks import load_task
from lmforge.model.loader import Loaded
from lmforge.stats import interval_text, rate


class MCSettings(EvalSettings, TaskSet):
    """How the tasks are scored (everything but the model: a recipe scores several models)."""

    shots: int = Field(0, ge=0, description="few-shot examples from the task's dev split")
    batch_size: int = Field(16, gt=0, description="scoring rows per forward pass")
    chat: bool = Field(False, description="also answered in free text by a chat model (chat template, "
                                          "greedy reply, the letter read by regex: 答案是X / X选项正确 / "
                                          "The answer is X / the option's text)")
    max_new_tokens: int = Field(32, gt=0, description="chat: tokens per reply")
    progress: bool = Field(True, description="progress bars")


class MCEvalConfig(MCSettings, ModelFolder):
    """`lmforge eval mc`: one model on the tasks."""


def run_mc_eval(cfg: MCEvalConfig, loaded: Loaded | None = None) -> EvalResult:
    """Each task's acc, acc_norm and acc_macro (overall, per category, per subject, per item),
    with `chat` also its free-text accuracy (`results[task]["chat"]`)."""
    cfg.require_tasks("mc")
    check_out(cfg)
    tasks = {name: load_task(name, folder) for name, folder in cfg.tasks.items()}  # data errors first
    lm = load_model_for(cfg, cfg.model, loaded)
    if cfg.chat and not lm.tokenizer.chat_template:
        raise UserError(f"chat: {cfg.model} has no chat_template in tokenizer_config.json")
    results: dict[str, Any] = {}
    for name, task in tasks.items():
        results[name] = evaluate_mc(lm.model, lm.tokenizer, task, cfg.shots, cfg.batch_size, cfg.limit,
                                    cfg.progress)
        if cfg.chat:
            results[name]["chat"] = evaluate_mc_chat(lm.model, lm.tokenizer, task, cfg.shots, cfg.limit,
                                                     cfg.max_new_tokens)
    return finish(cfg, "mc", results, mc_report(results))


def mc_report(results: dict[str, dict]) -> str:
    """One row per task and per category (n, acc with its Wilson 95% interval, the chance level);
    chat rows when the tasks were also answered in text."""
    rows = []
    for name, r in results.items():
        chance = r.get("chance")
        rows.append(_row(name, r, r["shots"], chance))
        rows += [_row(f"{name} / {cat}", c, r["shots"], chance) for cat, c in r.get("categories", {}).items()]
    text = markdown(["task", "n", "shots", "acc", "acc 95% CI", "acc_norm", "acc_norm 95% CI", "acc (subject mean)",
                     "chance"], rows)
    chat = [[name, r["chat"]["n"], r["shots"], r["chat"]["acc"],
             interval_text(rate(r["chat"]["acc"], r["chat"]["n"])), r["chat"]["unparsed"], r.get("chance", "")]
            for name, r in results.items() if "chat" in r]
    if chat:
        text += "\nanswered in free text (chat template, greedy):\n\n"
        text += markdown(["task", "n", "shots", "acc", "acc 95% CI", "unparsed", "chance"], chat)
    return text + ("\n95% CI: Wilson score interval over the n questions; chance: the mean of "
                   "1/number of choices. An interval that holds the chance level is no better than guessing.\n")


def _row(name: str, r: dict, shots: int, chance: float | None) -> list[Any]:
    return [name, r["n"], shots, r["acc"], interval_text(rate(r["acc"], r["n"])), r["acc_norm"],
            interval_text(rate(r["acc_norm"], r["n"])), r["acc_macro"], chance if chance is not None else ""]
