"""The contamination experiment (Steel-LLM's warning, measured): plant a share of a benchmark's
questions, with their answers and in the benchmark's own prompt format, into a pretraining
corpus; later, compare the scores of models trained with and without them and check whether the
n-gram detector (`lmforge.eval.contamination`) flags exactly the planted questions.

`run_plant(PlantConfig)` writes the contaminated corpus and `leaked.json` (which questions)."""

from __future__ import annotations

import random
import shutil
from dataclasses import dataclass
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, field_validator

from lmforge.data.pipeline import write_jsonl_atomic
from lmforge.data.read import expand
from lmforge.errors import UserError
from lmforge.eval.operation import must_exist
from lmforge.eval.task import LETTERS, MCTask
from lmforge.eval.tasks import load_task
from lmforge.files import atomic_write_json, read_json


class PlantConfig(BaseModel):
    """Copy `corpus` to `out` and add pages of leaked questions (prompt + answer letter) to one source."""

    model_config = ConfigDict(extra="forbid")
    out: str = Field(description="output folder: corpus/ (the corpus files plus <source>.leaked.jsonl) "
                                 "and leaked.json (which questions)")
    corpus: str = Field(description="corpus folder (jsonl/txt files, one source per file name)")
    tasks: str = Field(description="the benchmark folder whose questions leak")
    task: str = Field("ceval", description="its format (a registered eval task: ceval, cmmlu, ...)")
    share: float = Field(0.5, gt=0, le=1, description="share of the scored questions that leak")
    copies: int = Field(8, gt=0, description="times each leaked question appears (in different pages)")
    per_page: int = Field(4, gt=0, description="questions per planted document (pages differ, so the "
                                               "pack stage's hash split cannot hold one question out whole)")
    into: str | None = Field(None, description="the source the pages join (default: the largest file's)")
    seed: int = Field(0, ge=0, description="which questions leak and how pages are drawn")

    _exist = field_validator("corpus", "tasks")(must_exist)


@dataclass
class Planted:
    leaked: list[str]  # the questions' `where` (file:line)
    questions: int  # scored questions in the benchmark
    pages: int
    source: str


def page_text(task: MCTask, indices: list[int]) -> str:
    """Questions as the benchmark prompts them (zero-shot), each followed by its answer letter."""
    return "\n\n".join(task.prompt(task.items[i]) + " " + LETTERS[task.items[i].answer] for i in indices)


def _pages(task: MCTask, leaked: list[int], cfg: PlantConfig, rng: random.Random) -> list[str]:
    pages = []
    for _ in range(cfg.copies):
        order = rng.sample(leaked, len(leaked))
        pages += [page_text(task, order[i:i + cfg.per_page]) for i in range(0, len(order), cfg.per_page)]
    return rng.sample(pages, len(pages))


def run_plant(cfg: PlantConfig) -> Planted:
    """Write the contaminated corpus (`out`/corpus); `out`/leaked.json names the leaked questions."""
    task = load_task(cfg.task, cfg.tasks)
    files = expand([cfg.corpus])
    sources = {f.name.split(".")[0]: f for f in sorted(files, key=lambda f: f.stat().st_size)}
    into = cfg.into or list(sources)[-1]
    if into not in sources:
        raise UserError(f"into: no source {into!r} in {cfg.corpus} (sources: {sorted(sources)})")
    rng = random.Random(cfg.seed)
    n = len(task.items)
    leaked = sorted(rng.sample(range(n), max(1, round(cfg.share * n))))
    out = Path(cfg.out)
    (out / "corpus").mkdir(parents=True, exist_ok=True)
    for f in files:
        shutil.copy(f, out / "corpus" / f.name)
    pages = _pages(task, leaked, cfg, rng)
    write_jsonl_atomic(out / "corpus" / f"{into}.leaked.jsonl", ({"text": p} for p in pages))
    planted = Planted([task.items[i].where for i in leaked], n, len(pages), into)
    atomic_write_json(out / "leaked.json", {"task": cfg.task, "tasks": cfg.tasks, "share": cfg.share,
                                            "copies": cfg.copies, "questions": n, "source": into,
                                            "leaked": planted.leaked})
    return planted


def read_leaked(path: str | Path) -> set[str]:
    """The leaked questions' `where` from a `leaked.json`."""
    data = read_json(path, "leaked questions file")
    if not isinstance(data, dict) or not isinstance(data.get("leaked"), list):
        raise UserError(f"{path}: expected {{\"leaked\": [file:line, ...]}} (written by the plant stage)")
    return set(data["leaked"])


def detector_counts(flags: dict[str, bool], leaked: set[str]) -> dict[str, int]:
    """True/false positives and negatives of contamination flags against the planted truth."""
    tp = sum(f and w in leaked for w, f in flags.items())
    fp = sum(f and w not in leaked for w, f in flags.items())
    fn = sum(not f and w in leaked for w, f in flags.items())
    return {"tp": tp, "fp": fp, "fn": fn, "tn": len(flags) - tp - fp - fn}

