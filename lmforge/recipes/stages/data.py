"""Recipe stages that make data: the corpus, tokenizers, packed shards, SFT/DPO sets, MC items,
entropy selection. Each stage's parameters are its operation's config (the runner sets `out`);
each function is a thin adapter that puts the output in a sub-folder of the stage's folder and
builds the report summary."""

from __future__ import annotations

from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel, Field

from lmforge.data.corpus import demo_corpus_sources
from lmforge.data.ops import (
    CleanOptions,
    DemoCorpusOptions,
    InputPaths,
    TextField,
    clean_sources,
)
from lmforge.data.pipeline import write_jsonl_atomic
from lmforge.data.read import expand, read_documents
from lmforge.recipes.kinds import StageContext, StageParams, stage_kind
from lmforge.select.entropy import SelectConfig, run_select
from lmforge.sft.data import to_messages
from lmforge.sft.prepare import SFTMixtureConfig, run_sft_mixture
from lmforge.synth.mc_data import MCDataConfig, run_mc_data
from lmforge.synth.skills import (
    number_dialogues,
    number_questions,
    number_skill,
    second_turn,
    skill_prompts,
    two_turn_test,
)
from lmforge.text import read_jsonl
from lmforge.tokenizer import Tokenizer
from lmforge.tokenizer.extend import ExtendConfig, run_extend
from lmforge.tokenizer.ops import (
    TokenizerStatsConfig,
    TrainTokenizerConfig,
    run_tokenizer_stats,
    run_train_tokenizer,
)
from lmforge.tokens.packing import PackConfig, run_pack

T = TypeVar("T", bound=BaseModel)
STATS_CHARS = 500_000  # characters the tokenizer stages measure efficiency on, for the report


def _in(cfg: T, sub: str) -> T:
    """The config with its output moved to a sub-folder of the stage's folder."""
    return cfg.model_copy(update={"out": str(Path(cfg.out) / sub)})


class CorpusStage(DemoCorpusOptions, TextField):
    """`data demo-corpus` (or your `sources`) then `data clean` (its settings in `clean`)."""

    out: str = Field(description="stage folder (set by the runner)")
    sources: dict[str, InputPaths] | None = Field(
        None, description="real data: source name -> files/folders/globs (replaces the built-in corpus)")
    clean: CleanOptions = Field(default_factory=CleanOptions, description="`data clean` settings")


@stage_kind("corpus", CorpusStage)
def corpus(p: CorpusStage, ctx: StageContext) -> tuple[str, dict[str, Any]]:
    """`lmforge data demo-corpus` (or your files) -> `lmforge data clean` (filters + dedup)."""
    if p.sources:
        docs = {name: read_documents(expand(files), p.field) for name, files in p.sources.items()}
    else:
        docs = p.documents()
    result = clean_sources(docs, Path(p.out) / "corpus", p.clean)
    report, out = result.report, result.out
    rows = [{"source": s, **c} for s, c in report["sources"].items()]
    chars = sum(c["chars_out"] for c in report["sources"].values())
    tables = {"data report (documents, characters in/out)": rows}
    if not p.sources:
        tables = {"corpus sources (installed packages; characters before cleaning)":
                  demo_corpus_sources(p.max_chars, p.zh_share), **tables}
    return str(out), {
        "headline": {"corpus characters (after cleaning, dedup)": chars,
                     "Chinese character share": round(report["zh_char_share"], 3)},
        "tables": tables, "images": [str(out / "lengths.png")], **report.get("dedup", {})}


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


def _stats(tokenizer: str, text: list[str], compare: str | None = None, field: str = "text") -> dict[str, Any]:
    return run_tokenizer_stats(TokenizerStatsConfig(tokenizer=tokenizer, input=text, field=field,
                                                    compare=compare, max_chars=STATS_CHARS))


@stage_kind("tokenizer", TrainTokenizerConfig)
def tokenizer(p: TrainTokenizerConfig, ctx: StageContext) -> tuple[str, dict[str, Any]]:
    """`lmforge tokenizer train` + `lmforge tokenizer stats`."""
    p = _in(p, "tokenizer")
    tok = run_train_tokenizer(p)
    stats = _stats(p.out, p.input, field=p.field)
    return p.out, {"vocab_size": tok.vocab_size, "type": p.type,
                   "tables": {"tokenizer efficiency": _stats_rows(stats)}}


class TokenizerFolder(StageParams):
    """An existing tokenizer, used as it is (e.g. Qwen's for Steel-LLM): no training."""

    path: str = Field(description="a folder with tokenizer.json (a model folder or a tokenizer-only one)")


@stage_kind("tokenizer_folder", TokenizerFolder)
def tokenizer_folder(p: TokenizerFolder, ctx: StageContext) -> tuple[str, dict[str, Any]]:
    """An existing tokenizer folder: later stages refer to it as "@stage" (one place to set it)."""
    tok = Tokenizer.from_dir(p.path)  # a clear error if the folder has no tokenizer
    return p.path, {"vocab_size": tok.vocab_size, "headline": {f"tokenizer ({ctx.name})": f"{p.path}, "
                                                                f"{tok.vocab_size:,} tokens"}}


class ExtendStage(ExtendConfig):
    stats_on: str | None = Field(None, description="report-only: text to compare token counts on")


@stage_kind("tokenizer_extend", ExtendStage)
def tokenizer_extend(p: ExtendStage, ctx: StageContext) -> tuple[str, dict[str, Any]]:
    """`lmforge tokenizer extend` (Chinese-LLaMA): base ids kept, new pieces appended."""
    p = _in(p, "tokenizer")
    result = run_extend(p)
    summary: dict[str, Any] = {k: v for k, v in result.items() if isinstance(v, (int, float, str))}
    if p.stats_on:
        stats = _stats(p.out, [p.stats_on], compare=p.base)
        summary["tables"] = {"tokenizer efficiency, extended vs base": _stats_rows(stats)}
        ratio = stats.get("token_ratio_vs_compare", {})
        summary["headline"] = {f"{lang} tokens, extended / base": round(r, 3) for lang, r in ratio.items()}
    return p.out, summary


@stage_kind("pack", PackConfig)
def pack(p: PackConfig, ctx: StageContext) -> tuple[str, dict[str, Any]]:
    """`lmforge data pack`: token shards + manifest, train/val per source."""
    p = _in(p, "packed")
    sources = run_pack(p)
    rows = [{"source": s, "train tokens": v["tokens"]["train"], "val tokens": v["tokens"]["val"]}
            for s, v in sources.items()]
    return p.out, {"tables": {"packed tokens": rows},
                   "train_tokens": sum(r["train tokens"] for r in rows)}


class SFTDataStage(SFTMixtureConfig):
    """The mixture, plus the demo's multi-turn data and RL prompts (files beside train.jsonl)."""

    dialogues: int = Field(0, ge=0, description=(
        "two-turn chats in dialogues.jsonl (number questions of the training numbers; about 30% of the turns "
        "are the mixture's other chats, e.g. self-cognition), for SFT beside train.jsonl"))


def _rl_records(p: SFTDataStage, numbers: dict[str, list[int]], train: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The skill records RL prompts come from: the RL-only numbers' questions, each asked alone and
    as a second turn after a training question, when there are RL-only numbers; else the training
    skill records (single and two-turn)."""
    if not numbers.get("rl"):
        return [r for r in train if "answer" in r]
    questions = number_questions(numbers["rl"], p.seed + 3)
    firsts = number_skill(len(questions), p.seed + 4, numbers["train"])
    return questions + [second_turn(f, q) for f, q in zip(firsts, questions)]


def _skill_files(p: SFTDataStage, out: Path, numbers: dict[str, list[int]]) -> dict[str, int]:
    """dialogues.jsonl, skill_test_2turn.jsonl and skill_val_2turn.jsonl (the test's and validation's
    questions as second turns) and rl_prompts.jsonl (skill questions with their answers); records per file."""
    test, val = read_jsonl(out / "skill_test.jsonl"), read_jsonl(out / "skill_val.jsonl")
    train = read_jsonl(out / "train.jsonl")
    others = [{"messages": to_messages(r), "lang": r.get("lang")} for r in train if "answer" not in r]
    dialogues = number_dialogues(p.dialogues, p.seed, numbers["train"], others) if p.dialogues else []
    files = {"dialogues.jsonl": dialogues, "skill_test_2turn.jsonl": two_turn_test(test) if test else [],
             "skill_val_2turn.jsonl": two_turn_test(val) if val else [],
             "rl_prompts.jsonl": skill_prompts(_rl_records(p, numbers, train + dialogues))}
    return {name: write_jsonl_atomic(out / name, rows) for name, rows in files.items()}


@stage_kind("sft_data", SFTDataStage)
def sft_data(p: SFTDataStage, ctx: StageContext) -> tuple[str, dict[str, Any]]:
    """An SFT mixture (train.jsonl), a held-out skill test (skill_test.jsonl, and as second turns
    in skill_test_2turn.jsonl), DPO pairs (pairs.jsonl), two-turn chats, RL prompts."""
    p = _in(p, "sft")
    made = run_sft_mixture(p)
    written = _skill_files(p, Path(p.out), made.numbers)
    rows = [{"part": k, "samples": n} for k, n in made.parts.items()]
    if p.dialogues:
        rows.append({"part": "two-turn number chats (dialogues.jsonl)", "samples": written["dialogues.jsonl"]})
    return p.out, {"train_samples": made.train + written["dialogues.jsonl"], "skill_test_samples": made.skill_test,
                   "rl_prompts": written["rl_prompts.jsonl"],
                   "tables": {"SFT mixture": rows, "numbers 0-99 by use (disjoint)": _split_rows(made.numbers)}}


_SPLIT_USE = {"train": "SFT and DPO demonstrations (and the RL prompts when there are no RL-only numbers)",
              "test": "skill test (skill_test.jsonl), never trained on",
              "val": "validation (skill_val.jsonl), never trained on: settings are chosen on it",
              "rl": "RL prompts only: a reward checks the answer, no demonstration"}


def _split_rows(numbers: dict[str, list[int]]) -> list[dict[str, Any]]:
    return [{"split": name, "numbers": len(ns), "use": _SPLIT_USE[name],
             "examples": ", ".join(map(str, ns[:6])) + (" ..." if len(ns) > 6 else "")}
            for name, ns in numbers.items() if ns]


@stage_kind("mc_data", MCDataConfig)
def mc_data(p: MCDataConfig, ctx: StageContext) -> tuple[str, dict[str, Any]]:
    """A C-Eval- or CMMLU-format folder of number-reading questions with a known answer."""
    p = _in(p, p.format)
    return p.out, {"format": p.format, "scored_questions": run_mc_data(p)}


@stage_kind("select_entropy", SelectConfig)
def select_entropy(p: SelectConfig, ctx: StageContext) -> tuple[str, dict[str, Any]]:
    """`lmforge select entropy` (MindLLM): keep samples in a band above the base entropy."""
    p = _in(p, "selection")
    r = run_select(p)
    return str(Path(p.out) / "selected.jsonl"), {
        "base_entropy": r["base_entropy"], "selected": r["selected"], "scored": r["scored"],
        "headline": {"entropy selection kept": f"{r['selected']} of {r['scored']}"},
        "tables": {"entropy clusters": r["clusters"]}, "images": [str(Path(p.out) / "histogram.png")]}
