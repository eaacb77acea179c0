"""The data of the Llama 2-Chat path in miniature (the `rlhf_data` recipe stage): the number
reading skill ("73" -> "七十三" / "seventy-three") over a few numbers, as SFT conversations,
preference pairs for the reward model (the right reading chosen, a neighbour's rejected), RL
prompts with reference answers, and held-out records for the skill / reward tests (other
samples of the same numbers: a tiny model learns few numbers in a few steps)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

from lmforge.data.pipeline import write_jsonl_atomic
from lmforge.synth.skills import number_preferences, number_skill


class RLHFDataConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")
    out: str = Field(description="folder: sft.jsonl, pairs.jsonl, prompts.jsonl, test.jsonl")
    numbers: int = Field(10, gt=1, le=100, description="numbers 0 .. numbers-1 are read")
    sft: int = Field(200, ge=1, description="SFT conversations")
    pairs: int = Field(200, ge=1, description="preference pairs (chosen: the right reading)")
    test: int = Field(20, ge=1, description="held-out skill records (for skill_test / reward_test)")
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


def run_rlhf_data(cfg: RLHFDataConfig) -> RLHFData:
    out, numbers = Path(cfg.out), range(cfg.numbers)
    sft = number_skill(cfg.sft, cfg.seed, numbers)
    files = {"sft.jsonl": sft, "pairs.jsonl": number_preferences(cfg.pairs, cfg.seed + 1, numbers),
             "prompts.jsonl": _prompts(sft), "test.jsonl": number_skill(cfg.test, cfg.seed + 2, numbers)}
    out.mkdir(parents=True, exist_ok=True)
    n = {name: write_jsonl_atomic(out / name, rows) for name, rows in files.items()}
    return RLHFData(n["sft.jsonl"], n["pairs.jsonl"], n["prompts.jsonl"], n["test.jsonl"])
