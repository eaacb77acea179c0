"""The data of the Llama 2-Chat path in miniature (the `rlhf_data` recipe stage): the number
reading skill ("73" -> "七十三" / "seventy-three") over a few numbers, as SFT conversations,
preference pairs for the reward model (the right reading chosen; rejected: a neighbour's reading,
the other language's, an empty or a cut-off reply), RL prompts with reference answers, and
held-out records for the skill / reward tests (the same questions asked again: a tiny model learns
few numbers in a few steps)."""

from __future__ import annotations

import random
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from lmforge.data.pipeline import write_jsonl_atomic
from lmforge.synth.skills import chinese_number, english_number, number_questions, number_skill

Rejection = Literal["neighbour", "other_language", "empty", "truncated"]


class RLHFDataConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")
    out: str = Field(description="folder: sft.jsonl, pairs.jsonl, prompts.jsonl, test.jsonl")
    numbers: int = Field(10, gt=1, le=100, description="numbers 0 .. numbers-1 are read")
    sft: int = Field(200, ge=1, description="SFT conversations")
    pairs: int = Field(200, ge=1, description="preference pairs (chosen: the right reading)")
    rejected: list[Rejection] = Field(
        ["neighbour", "other_language", "empty", "truncated"], min_length=1, description=(
            "what the pairs reject, taken in turn: a neighbouring number's reading, the reading in the "
            "other language, an empty reply, the reading cut short. Only neighbours teach the reward "
            "model nothing about degenerate replies, which a sampling policy then finds and it overrates"))
    test: int = Field(20, ge=1, description=(
        "held-out skill records (for skill_test / reward_test): each number asked once in each language, "
        "in a shuffled order, repeated or cut to this count"))
    seed: int = Field(0, ge=0)


@dataclass
class RLHFData:
    sft: int
    pairs: int
    prompts: int
    test: int


def _prompts(records: list[dict]) -> list[dict]:
    """Each distinct question (the chat before the reply) once, with its reference answer."""
    seen: dict[str, dict] = {}
    for r in records:
        seen.setdefault(repr(r["messages"][:-1]), {"prompt": r["messages"][:-1], "answer": r["answer"]})
    return list(seen.values())


def _rejected_reply(kind: Rejection, n: int, lang: str, numbers: int, rng: random.Random) -> str:
    read, other = (chinese_number, english_number) if lang == "zh" else (english_number, chinese_number)
    if kind == "neighbour":
        return read((n + rng.choice([-1, 1])) % numbers)
    if kind == "other_language":
        return other(n)
    if kind == "empty":
        return ""
    full = read(n)
    return full[: max(1, len(full) // 2)] if len(full) > 1 else read((n + 1) % numbers) + full


def preference_pairs(count: int, seed: int, numbers: int, rejected: list[Rejection]) -> list[dict[str, Any]]:
    """`count` pairs {prompt, chosen, rejected}: the right reading chosen, the rejected reply of each
    kind in `rejected` in turn (a one-character reading "cut short" is instead prefixed by another)."""
    rng = random.Random(seed)
    out = []
    for i, rec in enumerate(number_skill(count, seed, range(numbers))):
        prompt = rec["messages"][0]["content"]
        n = int(re.search(r"\d+", prompt).group())
        bad = _rejected_reply(rejected[i % len(rejected)], n, rec["lang"], numbers, rng)
        out.append({"prompt": prompt, "chosen": rec["answer"], "rejected": bad})
    return out


def _test(cfg: RLHFDataConfig) -> list[dict[str, Any]]:
    questions = number_questions(list(range(cfg.numbers)), cfg.seed + 2)
    return (questions * -(-cfg.test // len(questions)))[:cfg.test]


def run_rlhf_data(cfg: RLHFDataConfig) -> RLHFData:
    out, numbers = Path(cfg.out), range(cfg.numbers)
    sft = number_skill(cfg.sft, cfg.seed, numbers)
    files = {"sft.jsonl": sft, "pairs.jsonl": preference_pairs(cfg.pairs, cfg.seed + 1, cfg.numbers, cfg.rejected),
             "prompts.jsonl": _prompts(sft), "test.jsonl": _test(cfg)}
    out.mkdir(parents=True, exist_ok=True)
    n = {name: write_jsonl_atomic(out / name, rows) for name, rows in files.items()}
    return RLHFData(n["sft.jsonl"], n["pairs.jsonl"], n["prompts.jsonl"], n["test.jsonl"])
