"""GSM8K: answer extraction (lm-eval's strict `#### N` and flexible last-number filters), the
k-shot prompt, greedy generation, and the `lmforge eval gsm8k` operation."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from pydantic import Field, field_validator, model_validator

from lmforge.errors import UserError
from lmforge.eval.operation import (EvalResult, EvalSettings, ModelFolder, check_out, ci_text, finish,
                                    load_model_for, markdown, must_exist)
from lmforge.eval.tasks.mc import read_jsonl
from lmforge.model.generate import SamplingParams, generate
from lmforge.model.loader import Loaded
from lmforge.stats import wilson

STRICT = re.compile(r"#### (\-?[0-9\.\,]+)")
FLEXIBLE = re.compile(r"(-?[$0-9.,]{2,})|(-?[0-9]+)")
STOP = ["Question:", "</s>", "<|im_end|>", "\n\n"]


def normalize_number(s: str) -> str:
    """Drop `$`, thousands commas and a trailing period so '$1,234.' equals '1234'."""
    s = s.replace(",", "").replace("$", "").rstrip(".")
    return s[:-2] if s.endswith(".0") else s


def extract_strict(text: str) -> str | None:
    m = STRICT.search(text)
    return normalize_number(m.group(1)) if m else None


def extract_flexible(text: str) -> str | None:
    """The last number in the text."""
    found = [a or b for a, b in FLEXIBLE.findall(text)]
    nums = [normalize_number(x) for x in found if any(ch.isdigit() for ch in x)]
    return nums[-1] if nums else None


def gold_answer(answer_field: str) -> str:
    """The reference number after `####` in a GSM8K answer."""
    got = extract_strict(answer_field)
    if got is None:
        raise UserError(f"GSM8K answer has no '#### N': {answer_field[-60:]!r}")
    return got


def truncate(text: str, stops: list[str] = STOP) -> str:
    cut = min((i for i in (text.find(s) for s in stops) if i >= 0), default=len(text))
    return text[:cut]


# ---- the generation runner: k-shot prompt, greedy completion, strict and flexible match ----------

def read_gsm8k(path: str) -> list[dict[str, str]]:
    """GSM8K jsonl `{"question", "answer": "...#### N"}`; errors name file:line."""
    rows = read_jsonl(Path(path))
    if not rows:
        raise UserError(f"{path}: no GSM8K records (empty file)")
    for r in rows:
        for key in ("question", "answer"):
            if key not in r:
                raise UserError(f"{r['_where']}: missing key {key!r}")
        try:
            gold_answer(r["answer"])
        except ValueError as e:
            raise UserError(f"{r['_where']}: {e}") from None
    return rows


def gsm8k_prompt(question: str, fewshot: list[dict[str, str]]) -> str:
    """lm-eval's gsm8k template: `Question: q\\nAnswer: a` examples separated by blank lines."""
    shots = "".join(f"Question: {x['question']}\nAnswer: {x['answer']}\n\n" for x in fewshot)
    return shots + f"Question: {question}\nAnswer:"


def score_gsm8k(completions: list[str], answers: list[str]) -> dict[str, Any]:
    """strict (`#### N`) and flexible (last number) exact match of completions cut at STOP, each
    with its Wilson 95% interval over the n questions (no chance level: the answer is free text)."""
    golds = [gold_answer(a) for a in answers]
    cut = [truncate(c) for c in completions]
    n = len(golds)
    out: dict[str, Any] = {"n": n}
    for name, extract in (("strict_match", extract_strict), ("flexible_match", extract_flexible)):
        hits = sum(extract(c) == g for c, g in zip(cut, golds))
        out[name], out[f"{name}_ci95"] = hits / max(n, 1), list(wilson(hits, n))
    return out


def evaluate_gsm8k(model, tok, items: list[dict[str, str]], fewshot: list[dict[str, str]] | None = None,
                   shots: int = 5, max_new_tokens: int = 256, batch_size: int = 8) -> dict[str, Any]:
    """Greedy k-shot GSM8K (examples: the first `shots` of `fewshot`)."""
    prompts = [tok.encode(gsm8k_prompt(x["question"], (fewshot or [])[:shots])) for x in items]
    params = SamplingParams(max_new_tokens=max_new_tokens, stop_token_ids=[i for i in [tok.eos_id] if i is not None])
    outs: list[str] = []
    for i in range(0, len(prompts), batch_size):
        outs += [tok.decode(o) for o in generate(model.eval(), prompts[i:i + batch_size], params, pad_id=tok.pad_id)]
    return {**score_gsm8k(outs, [x["answer"] for x in items]), "shots": min(shots, len(fewshot or []))}


class GSM8KConfig(EvalSettings, ModelFolder):
    """`lmforge eval gsm8k`: greedy k-shot answers, strict and flexible exact match (lm-eval's)."""

    data: str = Field(description="GSM8K jsonl: question, answer ('... #### N')")
    fewshot: str | None = Field(None, description="jsonl the few-shot examples come from (GSM8K's train split)")
    shots: int = Field(0, ge=0, description="few-shot examples (the first ones of --fewshot)")
    max_new_tokens: int = Field(256, gt=0, description="tokens per answer")
    batch_size: int = Field(16, gt=0, description="answers generated together")

    _exist = field_validator("data", "fewshot")(must_exist)

    @model_validator(mode="after")
    def _shots(self) -> "GSM8KConfig":
        if self.shots and not self.fewshot:
            raise ValueError("shots > 0 needs fewshot (--fewshot JSONL: the few-shot examples)")
        return self


def run_gsm8k(cfg: GSM8KConfig, loaded: Loaded | None = None) -> EvalResult:
    """strict_match, flexible_match (each with its `_ci95`) and n under `results["gsm8k"]`."""
    check_out(cfg)
    items = read_gsm8k(cfg.data)[:cfg.limit]
    shots = read_gsm8k(cfg.fewshot) if cfg.fewshot else []
    lm = load_model_for(cfg, cfg.model, loaded)
    r = evaluate_gsm8k(lm.model, lm.tokenizer, items, shots, cfg.shots, cfg.max_new_tokens, cfg.batch_size)
    report = markdown(["task", "n", "shots", "strict match", "95% CI", "flexible match", "95% CI"],
                      [["gsm8k", r["n"], r["shots"], r["strict_match"], ci_text(r["strict_match_ci95"]),
                        r["flexible_match"], ci_text(r["flexible_match_ci95"])]])
    report += ("\n95% CI: Wilson score interval over the n questions. No chance level: the answer is a "
               "free-text number.\n")
    return finish(cfg, "gsm8k", {"gsm8k": r}, report)
