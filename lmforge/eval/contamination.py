"""Benchmark contamination: n-gram overlap (13 English words / 13 Chinese characters, as GPT-3 and
the Chinese-LLM reports do) between benchmark items and a corpus of text files or packed shards."""

from __future__ import annotations

import itertools
import re
from pathlib import Path
from typing import Iterable, Iterator

import numpy as np
from pydantic import Field, ValidationInfo, field_validator, model_validator
from tqdm import tqdm

from lmforge.tokens.pack import load_tokens, read_manifest
from lmforge.data.read import read_documents
from lmforge.errors import UserError
from lmforge.eval.operation import EvalOutput, EvalResult, TaskSet, check_out, finish, markdown, must_exist
from lmforge.eval.task import MCItem
from lmforge.eval.tasks import load_task
from lmforge.model.loader import load_tokenizer
from lmforge.text import CJK

WORD = re.compile(r"[a-z0-9]+")


def words(text: str) -> list[str]:
    """Lower-cased words; single letters (the option labels "A." .. "J." of a formatted question)
    are left out on both sides, so a leak in the prompt's format matches the bare item."""
    return [w for w in WORD.findall(text.lower()) if len(w) > 1 or w.isdigit()]


def ngrams(text: str, n: int = 13) -> set[str]:
    """Word n-grams of the English part plus character n-grams of the Chinese part; a text shorter
    than n contributes itself whole when it has at least n // 2 units (short answers still count)."""
    out: set[str] = set()
    for units, sep in ((words(text), " "), (CJK.findall(text), "")):
        if len(units) >= n:
            out.update(sep.join(units[i:i + n]) for i in range(len(units) - n + 1))
        elif len(units) >= max(n // 2, 1):
            out.add(sep.join(units))
    return out


def item_text(item: MCItem) -> str:
    return item.question + "\n" + "\n".join(item.choices)


def packed_documents(folder: str | Path, tokenizer_dir: str | Path,
                     splits: tuple[str, ...] = ("train", "val")) -> Iterator[str]:
    """Decode the documents (EOS-separated) of every source and split of a packed folder."""
    manifest, tok = read_manifest(folder), load_tokenizer(tokenizer_dir)
    for source, split in ((s, sp) for s in manifest["sources"] for sp in splits):
        tokens = np.asarray(load_tokens(folder, source, split))
        ends = np.flatnonzero(tokens == manifest["eos_id"])
        start = 0
        for end in list(ends) + [len(tokens)]:
            if end > start:
                yield tok.decode(tokens[start:end].tolist())
            start = end + 1


def contamination(items: list[MCItem], corpus: Iterable[str], n: int = 13,
                  threshold: float = 0.0, progress: bool = True) -> dict:
    """Per item: the fraction of its n-grams found in the corpus; an item is contaminated when
    that fraction exceeds `threshold`. Report overall and per subject."""
    grams = [ngrams(item_text(x), n) for x in items]
    wanted = set().union(*grams) if grams else set()
    seen: set[str] = set()
    for doc in tqdm(corpus, desc="corpus", unit="doc", disable=not progress):
        seen.update(ngrams_present(doc, wanted, n))
    rows = []
    for x, g in zip(items, grams):
        frac = len(g & seen) / len(g) if g else 0.0
        rows.append({"where": x.where, "subject": x.subject, "overlap": frac,
                     "contaminated": frac > threshold})
    subjects: dict[str, list[dict]] = {}
    for r in rows:
        subjects.setdefault(r["subject"], []).append(r)
    summary = {s: {"n": len(rs), "contaminated": sum(r["contaminated"] for r in rs),
                   "rate": sum(r["contaminated"] for r in rs) / len(rs)}
               for s, rs in sorted(subjects.items())}
    total = sum(r["contaminated"] for r in rows)
    return {"n": len(rows), "ngram": n, "contaminated": total,
            "rate": total / max(len(rows), 1), "subjects": summary, "items": rows}


def ngrams_present(doc: str, wanted: set[str], n: int) -> set[str]:
    """The benchmark n-grams that occur in `doc` (short whole-item grams by substring)."""
    hits = ngrams(doc, n) & wanted
    for units, sep in ((" ".join(words(doc)), " "), ("".join(CJK.findall(doc)), "")):
        padded = f" {units} " if sep else units  # whole words only: "eight" is not in "eighty"
        hits.update(g for g in wanted if len(g.split(" ") if sep else g) < n
                    and (f" {g} " if sep else g) in padded)
    return hits


class ContaminationConfig(EvalOutput, TaskSet):
    """`lmforge eval contamination`: n-gram overlap of the tasks' questions with a corpus (no
    model runs, so no device or dtype)."""

    corpus: list[str] = Field(min_length=1, description="text files/folders, or packed folders "
                                                        "(manifest.json; decoded with --tokenizer)")
    tokenizer: str | None = Field(None, description="tokenizer folder for decoding packed folders")
    ngram: int = Field(13, gt=0, description="n-gram length (English words / Chinese characters)")
    threshold: float = Field(0.0, ge=0, lt=1, description="an item is contaminated when more than "
                                                          "this share of its n-grams is in the corpus")

    _exist = field_validator("corpus")(must_exist)

    @model_validator(mode="after")
    def _tokenizer(self, info: ValidationInfo) -> "ContaminationConfig":
        for c in self.corpus:
            if (Path(c) / "manifest.json").is_file() and self.tokenizer is None:
                raise ValueError(f"corpus: {c} is a packed folder; give tokenizer (--tokenizer DIR) to decode it")
        return self


def corpus_documents(cfg: ContaminationConfig) -> Iterator[str]:
    """The corpus's documents: packed folders decoded, text files read."""
    parts = [packed_documents(c, cfg.tokenizer) if (Path(c) / "manifest.json").is_file()
             else read_documents([c]) for c in cfg.corpus]
    return itertools.chain(*parts)


def run_contamination(cfg: ContaminationConfig) -> EvalResult:
    """Per task: n, contaminated, rate, per subject and per item (see `contamination`)."""
    cfg.require_tasks("contamination")
    check_out(cfg)
    items = {name: load_task(name, d).items[:cfg.limit] for name, d in cfg.tasks.items()}
    corpus = list(corpus_documents(cfg))
    if not corpus:
        raise UserError(f"corpus: no documents in {cfg.corpus}")
    results = {name: contamination(xs, corpus, cfg.ngram, cfg.threshold) for name, xs in items.items()}
    report = markdown(["task", "n", "contaminated", "rate"],
                      [[name, r["n"], r["contaminated"], r["rate"]] for name, r in results.items()])
    return finish(cfg, "contamination", results, report)
