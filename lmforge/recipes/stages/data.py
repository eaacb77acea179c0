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
    numbers_asked,
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


def _skill_files(p: SFTDataStage, out: Path) -> dict[str, int]:
    """dialogues.jsonl, skill_test_2turn.jsonl (the test's questions as second turns) and
    rl_prompts.jsonl (the training skill questions with their answers); records per file."""
    test = read_jsonl(out / "skill_test.jsonl")
    train_numbers = sorted(set(range(100)) - numbers_asked(test))
    train = read_jsonl(out / "train.jsonl")
    others = [{"messages": to_messages(r), "lang": r.get("lang")} for r in train if "answer" not in r]
    dialogues = number_dialogues(p.dialogues, p.seed, train_numbers, others) if p.dialogues else []
    train += dialogues
    files = {"dialogues.jsonl": dialogues, "skill_test_2turn.jsonl": two_turn_test(test) if test else [],
             "rl_prompts.jsonl": skill_prompts([r for r in train if "answer" in r])}
    return {name: write_jsonl_atomic(out / name, rows) for name, rows in files.items()}


@stage_kind("sft_data", SFTDataStage)
def sft_data(p: SFTDataStage, ctx: StageContext) -> tuple[str, dict[str, Any]]:
    """An SFT mixture (train.jsonl), a held-out skill test (skill_test.jsonl, and as second turns
    in skill_test_2turn.jsonl), DPO pairs (pairs.jsonl), two-turn chats, RL prompts."""
    p = _in(p, "sft")
    made = run_sft_mixture(p)
    written = _skill_files(p, Path(p.out))
    rows = [{"part": k, "samples": n} for k, n in made.parts.items()]
    if p.dialogues:
        rows.append({"part": "two-turn number chats (dialogues.jsonl)", "samples": written["dialogues.jsonl"]})
    return p.out, {"train_samples": made.train + written["dialogues.jsonl"], "skill_test_samples": made.skill_test,
                   "rl_prompts": written["rl_prompts.jsonl"], "tables": {"SFT mixture": rows}}


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
