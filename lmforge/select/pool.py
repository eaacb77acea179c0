"""Instruction pools for selection experiments: a clean mixture with junk added (the kinds of noise
scraped instruction data carries), and a random subset of a pool the size of a selection (the
control MindLLM's entropy selection is compared with).

Every record written carries `part`: where it came from ("skill", "other", or the junk kind), so a
selection's make-up can be counted afterwards (`part_counts`).
"""

from __future__ import annotations

import random
from collections import Counter
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from lmforge.data.ops import InputPath
from lmforge.data.pipeline import write_jsonl_atomic
from lmforge.errors import UserError
from lmforge.sft.data import read_jsonl

JUNK = ("shuffled", "truncated", "wrong_answer")


class NoisyPoolConfig(BaseModel):
    """A clean instruction file plus junk made from its own records."""

    model_config = ConfigDict(extra="forbid")
    data: InputPath = Field(description="instruction jsonl (records with `answer` are the skill)")
    out: str = Field(description="output jsonl: every clean record and the junk, shuffled, each with `part`")
    shuffled: int = Field(0, ge=0, description="skill records whose response characters are shuffled")
    truncated: int = Field(0, ge=0, description="skill records whose response is cut to its first third")
    wrong_answer: int = Field(0, ge=0, description="skill records answered with another record's answer")
    seed: int = Field(0, description="which records are corrupted, and how")


def _reply(rec: dict[str, Any], content: str) -> dict[str, Any]:
    msgs = list(rec["messages"])
    return {"messages": msgs[:-1] + [{"role": "assistant", "content": content}]}


def _corrupt(kind: str, rec: dict[str, Any], other: dict[str, Any], rng: random.Random) -> dict[str, Any]:
    answer = rec["messages"][-1]["content"]
    if kind == "shuffled":
        chars = list(answer)
        rng.shuffle(chars)
        return _reply(rec, "".join(chars))
    if kind == "truncated":
        return _reply(rec, answer[:max(1, len(answer) // 3)])
    return _reply(rec, other["messages"][-1]["content"])


def noisy_pool(records: list[dict[str, Any]], counts: dict[str, int], seed: int = 0) -> list[dict[str, Any]]:
    """The records tagged `part` ("skill" if it has an answer, else "other") plus `counts[kind]`
    corrupted copies of random skill records per junk kind, shuffled."""
    rng = random.Random(seed)
    pool = [{**r, "part": "skill" if "answer" in r else "other"} for r in records]
    skill = [r for r in records if "answer" in r and r.get("messages")]
    if any(counts.values()) and len(skill) < 2:
        raise UserError("noisy pool: junk is made from skill records (with `answer`); the data has "
                        f"{len(skill)}")
    for kind in JUNK:
        for _ in range(counts.get(kind, 0)):
            rec, other = rng.sample(skill, 2)
            pool.append({**_corrupt(kind, rec, other, rng), "part": kind})
    rng.shuffle(pool)
    return pool


def run_noisy_pool(cfg: NoisyPoolConfig) -> dict[str, int]:
    """Write the pool; returns its make-up (part -> records)."""
    counts = {k: getattr(cfg, k) for k in JUNK}
    pool = noisy_pool(list(read_jsonl(cfg.data)), counts, cfg.seed)
    write_jsonl_atomic(Path(cfg.out), pool)
    return dict(Counter(r["part"] for r in pool))


class SubsetConfig(BaseModel):
    """A uniform random subset of a pool, as large as another file (a selection's control)."""

    model_config = ConfigDict(extra="forbid")
    data: InputPath = Field(description="the pool (jsonl)")
    like: InputPath = Field(description="jsonl whose record count is the subset's size (e.g. a selection)")
    out: str = Field(description="output jsonl")
    seed: int = Field(0, description="sampling seed")


def run_subset(cfg: SubsetConfig) -> int:
    """Write `len(like)` records drawn from `data` without replacement; returns that count."""
    pool, size = list(read_jsonl(cfg.data)), sum(1 for _ in read_jsonl(cfg.like))
    if size > len(pool):
        raise UserError(f"{cfg.like}: {size} records, more than the {len(pool)} of {cfg.data}")
    write_jsonl_atomic(Path(cfg.out), random.Random(cfg.seed).sample(pool, size))
    return size


def part_counts(path: str | Path) -> dict[str, int]:
    """Records per `part` in a jsonl (records without one count as "untagged")."""
    return dict(Counter(r.get("part", "untagged") for r in read_jsonl(path)))
