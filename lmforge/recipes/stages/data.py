"""Recipe stages that make data: the corpus, tokenizers, packed shards, SFT/DPO sets, MC items."""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any, Literal

from pydantic import Field

from lmforge.recipes.kinds import StageContext, StageParams, stage_kind


class CorpusParams(StageParams):
    max_chars: int = Field(2_000_000, gt=0, description="built-in corpus size")
    zh_share: float = Field(0.5, ge=0, le=1)
    sources: dict[str, list[str]] | None = Field(
        None, description="real data: source name -> files/folders/globs (replaces the built-in corpus)")
    text_field: str = "text"
    clean: bool = True
    dedup_threshold: float = Field(0.8, gt=0, le=1)


@stage_kind("corpus", CorpusParams)
def corpus(p: CorpusParams, ctx: StageContext) -> tuple[str, dict[str, Any]]:
    """`lmforge data demo-corpus` (or your files) -> `lmforge data clean` (filters + dedup)."""
    from lmforge.data.corpus import demo_corpus
    from lmforge.data.pipeline import process_sources
    from lmforge.data.read import expand, read_documents

    if p.sources:
        docs = {name: read_documents(expand(files), p.text_field) for name, files in p.sources.items()}
    else:
        docs = demo_corpus(p.max_chars, p.zh_share)
    out = ctx.out_dir / "corpus"
    report = process_sources(docs, out, clean_steps=None if p.clean else [],
                             dedup_threshold=p.dedup_threshold)
    rows = [{"source": s, **c} for s, c in report["sources"].items()]
    chars = sum(c["chars_out"] for c in report["sources"].values())
    return str(out), {
        "headline": {"corpus characters (after cleaning, dedup)": chars,
                     "Chinese character share": round(report["zh_char_share"], 3)},
        "tables": {"data report (documents, characters in/out)": rows},
        "images": [str(out / "lengths.png")], **report.get("dedup", {})}


class TokenizerParams(StageParams):
    input: str = Field(description="corpus folder or files")
    vocab_size: int = Field(4096, gt=0)
    type: str = "bytelevel-bpe"
    chat_template: str = "chatml"
    sample_chars: int | None = Field(None, gt=0)
    text_field: str = "text"


def _stats_rows(stats: dict[str, Any]) -> list[dict[str, Any]]:
    rows = []
    for who in ("this", "compare"):
        for lang in ("zh", "en"):
            m = (stats.get(who) or {}).get(lang)
            if m:
                rows.append({"tokenizer": "new" if who == "this" else "base", "lang": lang,
                             "chars/token": round(m["chars_per_token"], 3),
                             "tokens/CJK char": round(m["tokens_per_cjk_char"] or 0, 3),
                             "byte fallback": round(m["byte_fallback_rate"], 4),
                             "round trip": m["round_trip_exact"]})
    return rows


@stage_kind("tokenizer", TokenizerParams)
def tokenizer(p: TokenizerParams, ctx: StageContext) -> tuple[str, dict[str, Any]]:
    """`lmforge tokenizer train` + `lmforge tokenizer stats`."""
    from lmforge.tokenizer.stats import tokenizer_stats
    from lmforge.tokenizer.train import read_training_texts, train_tokenizer

    out = ctx.out_dir / "tokenizer"
    tok = train_tokenizer(read_training_texts([p.input], p.text_field), p.vocab_size, out, p.type,
                          p.chat_template, p.sample_chars)
    stats = tokenizer_stats(str(out), [p.input], p.text_field, max_chars=500_000)
    return str(out), {"vocab_size": tok.vocab_size, "type": p.type,
                      "tables": {"tokenizer efficiency": _stats_rows(stats)}}


class ExtendParams(StageParams):
    base: str = Field(description="base tokenizer folder (e.g. LLaMA's)")
    add: str | None = Field(None, description="tokenizer whose pieces are appended")
    train_on: list[str] = Field(default_factory=list, description="... or train it on these files")
    add_size: int = Field(8000, gt=0)
    stats_on: str | None = Field(None, description="text to compare token counts on")


@stage_kind("tokenizer_extend", ExtendParams)
def tokenizer_extend(p: ExtendParams, ctx: StageContext) -> tuple[str, dict[str, Any]]:
    """`lmforge tokenizer extend` (Chinese-LLaMA): base ids kept, new pieces appended."""
    from lmforge.tokenizer.extend import extend_tokenizer
    from lmforge.tokenizer.stats import tokenizer_stats

    out = ctx.out_dir / "tokenizer"
    result = extend_tokenizer(p.base, p.add, out, train_on=p.train_on or None, add_size=p.add_size)
    summary: dict[str, Any] = {k: v for k, v in result.items() if isinstance(v, (int, float, str))}
    if p.stats_on:
        stats = tokenizer_stats(str(out), [p.stats_on], compare=p.base, max_chars=500_000)
        summary["tables"] = {"tokenizer efficiency, extended vs base": _stats_rows(stats)}
        ratio = stats.get("token_ratio_vs_compare", {})
        summary["headline"] = {f"{lang} tokens, extended / base": round(r, 3) for lang, r in ratio.items()}
    return str(out), summary


class PackParams(StageParams):
    input: str
    tokenizer: str
    val_fraction: float = Field(0.02, gt=0, lt=1)
    text_field: str = "text"


@stage_kind("pack", PackParams)
def pack(p: PackParams, ctx: StageContext) -> tuple[str, dict[str, Any]]:
    """`lmforge data pack`: token shards + manifest, train/val per source."""
    from lmforge.data.pack import pack_texts, read_manifest
    from lmforge.data.read import documents_by_source
    from lmforge.tokenizer import Tokenizer

    out = pack_texts(documents_by_source([p.input], p.text_field), Tokenizer.from_dir(p.tokenizer),
                     ctx.out_dir / "packed", val_fraction=p.val_fraction)
    sources = read_manifest(out)["sources"]
    rows = [{"source": s, "train tokens": v["tokens"]["train"], "val tokens": v["tokens"]["val"]}
            for s, v in sources.items()]
    return str(out), {"tables": {"packed tokens": rows},
                      "train_tokens": sum(r["train tokens"] for r in rows)}


class SelfCognition(StageParams):
    name: str
    author: str
    count: int = Field(100, gt=0)


class SFTDataParams(StageParams):
    skill_count: int = Field(600, ge=0, description="synthetic number-reading samples (zh + en)")
    skill_test: int = Field(40, ge=0, description="held-out numbers for the skill test")
    pairs: int = Field(300, ge=0, description="DPO pairs of the same skill")
    self_cognition: SelfCognition | None = None
    exam: list[str] = Field(default_factory=list, description="WanJuan-schema exam jsonl (CoT + non-CoT)")
    files: list[str] = Field(default_factory=list, description="your instruction jsonl files")
    lang: Literal["zh", "en"] | None = Field(None, description="keep only records in this language")
    seed: int = 0


@stage_kind("sft_data", SFTDataParams)
def sft_data(p: SFTDataParams, ctx: StageContext) -> tuple[str, dict[str, Any]]:
    """An SFT mixture (train.jsonl), a held-out skill test (skill_test.jsonl), DPO pairs (pairs.jsonl).

    The skill (write a number in Chinese or English words) has a known answer, so the report can
    show its exact-match accuracy before and after SFT/DPO; test numbers never appear in training.
    """
    from lmforge.data.pipeline import write_jsonl_atomic
    from lmforge.sft.data import read_jsonl
    from lmforge.sft.tools import exam_to_samples, record_lang, self_cognition
    from lmforge.synth.skills import number_preferences, number_skill

    rng = random.Random(p.seed)
    numbers = list(range(100))
    test_numbers = set(rng.sample(numbers, min(p.skill_test // 2, len(numbers) // 4)))
    train_numbers = [n for n in numbers if n not in test_numbers]
    parts: dict[str, list[dict[str, Any]]] = {
        "number skill": number_skill(p.skill_count, p.seed, train_numbers) if p.skill_count else []}
    if p.self_cognition:
        sc = p.self_cognition
        parts["self-cognition"] = self_cognition(sc.name, sc.author, sc.count, p.seed)
    for f in p.exam:
        samples = [exam_to_samples(r) for r in read_jsonl(f)]
        parts["exam (non-CoT)"] = [s["non_cot"] for s in samples]
        parts["exam (CoT)"] = [s["cot"] for s in samples]
    for f in p.files:
        parts[Path(f).name] = list(read_jsonl(f))
    if p.lang:
        parts = {k: [r for r in v if record_lang(r) == p.lang] for k, v in parts.items()}
    train = [r for rows in parts.values() for r in rows]
    rng.shuffle(train)
    out = ctx.out_dir / "sft"
    out.mkdir(parents=True, exist_ok=True)
    write_jsonl_atomic(out / "train.jsonl", train)
    test = [r for lang_seed in (p.seed + 1, p.seed + 2)
            for r in number_skill(p.skill_test // 2, lang_seed, sorted(test_numbers))]
    write_jsonl_atomic(out / "skill_test.jsonl", test)
    write_jsonl_atomic(out / "pairs.jsonl", number_preferences(p.pairs, p.seed, train_numbers))
    return str(out), {"train_samples": len(train), "skill_test_samples": len(test),
                      "tables": {"SFT mixture": [{"part": k, "samples": len(v)} for k, v in parts.items()]}}


class MCDataParams(StageParams):
    items: int = Field(60, gt=3, description="questions per subject in the scored split (dev gets 5)")
    format: Literal["ceval", "cmmlu"] = "ceval"
    seed: int = 0


_MC_SUBJECTS = (("number_zh", "chinese_number", "数字 {n} 的中文写法是？"),
                ("number_en", "english_number", "How is {n} written in English words?"))


@stage_kind("mc_data", MCDataParams)
def mc_data(p: MCDataParams, ctx: StageContext) -> tuple[str, dict[str, Any]]:
    """A C-Eval- or CMMLU-format folder of number-reading questions with a known answer.

    Stands in for C-Eval/CMMLU at toy scale (they are not on any package registry); at real scale
    point the eval stage's `tasks` at the official folders instead.
    """
    import csv

    from lmforge.synth import skills

    rng = random.Random(p.seed)
    out = ctx.out_dir / p.format
    scored = "val" if p.format == "ceval" else "test"
    for split, n in (("dev", 5), (scored, p.items)):
        (out / split).mkdir(parents=True, exist_ok=True)
        for subject, fn_name, q in _MC_SUBJECTS:
            fn = getattr(skills, fn_name)
            name = f"{subject}_{split}.csv" if p.format == "ceval" else f"{subject}.csv"
            with open(out / split / name, "w", newline="", encoding="utf-8") as f:
                w = csv.writer(f)
                w.writerow(["id", "question", "A", "B", "C", "D", "answer", "explanation"]
                           if p.format == "ceval" else ["", "Question", "A", "B", "C", "D", "Answer"])
                for i in range(n):
                    x = rng.randrange(100)
                    choices = [fn(y) for y in [x, *rng.sample([y for y in range(100) if y != x], 3)]]
                    rng.shuffle(choices)
                    row = [i, q.format(n=x), *choices, "ABCD"[choices.index(fn(x))]]
                    w.writerow(row + [""] if p.format == "ceval" else row)
    return str(out), {"format": p.format, "scored_questions": p.items * len(_MC_SUBJECTS)}
