"""GSM8K: answer extraction (lm-eval's strict `#### N` and flexible last-number filters), the
k-shot prompt, greedy generation, and the `lmforge eval gsm8k` operation."""

from __future__ import annotations

import re
from pathlib import Path

from lmforge.errors import UserError
from lmforge.eval.tasks.mc import read_jsonl
from lmforge.model.generate import SamplingParams, generate

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
        raise ValueError(f"GSM8K answer has no '#### N': {answer_field[-60:]!r}")
    return got


def truncate(text: str, stops: list[str] = STOP) -> str:
    cut = min((i for i in (text.find(s) for s in stops) if i >= 0), default=len(text))
    return text[:cut]


# ---- the generation runner: k-shot prompt, greedy completion, strict and flexible match ----------

def read_gsm8k(path: str) -> list[dict[str, str]]:
    """GSM8K jsonl `{"question", "answer": "...#### N"}`; errors name file:line."""
    rows = read_jsonl(Path(path))
    for r in rows:
        for key in ("question", "answer"):
            if key not in r:
                raise ValueError(f"{r['_where']}: missing key {key!r}")
        try:
            gold_answer(r["answer"])
        except ValueError as e:
            raise ValueError(f"{r['_where']}: {e}") from None
    return rows


def gsm8k_prompt(question: str, fewshot: list[dict[str, str]]) -> str:
    """lm-eval's gsm8k template: `Question: q\\nAnswer: a` examples separated by blank lines."""
    shots = "".join(f"Question: {x['question']}\nAnswer: {x['answer']}\n\n" for x in fewshot)
    return shots + f"Question: {question}\nAnswer:"


def score_gsm8k(completions: list[str], answers: list[str]) -> dict[str, float]:
    """strict (`#### N`) and flexible (last number) exact match of completions cut at STOP."""
    golds = [gold_answer(a) for a in answers]
    cut = [truncate(c) for c in completions]
    n = max(len(golds), 1)
    return {"n": len(golds),
            "strict_match": sum(extract_strict(c) == g for c, g in zip(cut, golds)) / n,
            "flexible_match": sum(extract_flexible(c) == g for c, g in zip(cut, golds)) / n}


def evaluate_gsm8k(model, tok, items: list[dict[str, str]], fewshot: list[dict[str, str]] | None = None,
                   shots: int = 5, max_new_tokens: int = 256, batch_size: int = 8) -> dict[str, float]:
    """Greedy k-shot GSM8K (examples: the first `shots` of `fewshot`)."""
    prompts = [tok.encode(gsm8k_prompt(x["question"], (fewshot or [])[:shots])) for x in items]
    params = SamplingParams(max_new_tokens=max_new_tokens, stop_token_ids=[i for i in [tok.eos_id] if i is not None])
    outs: list[str] = []
    for i in range(0, len(prompts), batch_size):
        outs += [tok.decode(o) for o in generate(model.eval(), prompts[i:i + batch_size], params, pad_id=tok.pad_id)]
    return {**score_gsm8k(outs, [x["answer"] for x in items]), "shots": min(shots, len(fewshot or []))}
