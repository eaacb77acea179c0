"""C-Eval- or CMMLU-format folders of number-reading questions with a known answer:
`run_mc_data(MCDataConfig)`, the recipe's `mc_data` stage.

They stand in for C-Eval/CMMLU at toy scale (those are not on any package registry); at real
scale point the eval stage's `tasks` at the official folders instead.
"""

from __future__ import annotations

import csv
import random
from pathlib import Path
from typing import Callable, Literal

from pydantic import BaseModel, ConfigDict, Field

from lmforge.files import atomic_open
from lmforge.synth.skills import chinese_number, english_number

SUBJECTS: tuple[tuple[str, Callable[[int], str], str], ...] = (
    ("number_zh", chinese_number, "数字 {n} 的中文写法是？"),
    ("number_en", english_number, "How is {n} written in English words?"))
HEADERS = {"ceval": ["id", "question", "A", "B", "C", "D", "answer", "explanation"],
           "cmmlu": ["", "Question", "A", "B", "C", "D", "Answer"]}


class MCDataConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")
    out: str = Field(description="output folder: dev/ and val/ (C-Eval) or test/ (CMMLU) csv files")
    items: int = Field(60, gt=3, description="questions per subject in the scored split (dev gets 5)")
    format: Literal["ceval", "cmmlu"] = Field("ceval", description="the folder layout and csv columns")
    seed: int = Field(0, description="question seed")


def _rows(rng: random.Random, n: int, fn: Callable[[int], str], question: str, ceval: bool) -> list[list]:
    rows = []
    for i in range(n):
        x = rng.randrange(100)
        choices = [fn(y) for y in [x, *rng.sample([y for y in range(100) if y != x], 3)]]
        rng.shuffle(choices)
        row = [i, question.format(n=x), *choices, "ABCD"[choices.index(fn(x))]]
        rows.append(row + [""] if ceval else row)
    return rows


def run_mc_data(cfg: MCDataConfig) -> int:
    """Write the folder; returns the number of scored questions."""
    rng = random.Random(cfg.seed)
    out, ceval = Path(cfg.out), cfg.format == "ceval"
    scored = "val" if ceval else "test"
    for split, n in (("dev", 5), (scored, cfg.items)):
        (out / split).mkdir(parents=True, exist_ok=True)
        for subject, fn, question in SUBJECTS:
            name = f"{subject}_{split}.csv" if ceval else f"{subject}.csv"
            with atomic_open(out / split / name) as f:
                w = csv.writer(f)
                w.writerow(HEADERS[cfg.format])
                w.writerows(_rows(rng, n, fn, question, ceval))
    return cfg.items * len(SUBJECTS)
