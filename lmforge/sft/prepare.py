"""Instruction-data operations as typed configs and run functions: language and length filters,
weighted mixing, WanJuan exams, self-cognition, self-instruct, and the recipe's SFT mixture.
The `lmforge sft-data ...` verbs and the `sft_data` recipe stage are derived from these configs.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator, model_validator

from lmforge.client import ChatClient
from lmforge.data.ops import InputPath, InputPaths, check_inputs, made_later
from lmforge.data.pipeline import write_jsonl_atomic
from lmforge.errors import UserError
from lmforge.sft.data import Skips, encode, skip_reason, to_messages
from lmforge.sft.pairs import pair_turns
from lmforge.sft.tools import ExamRecordError, exam_to_samples, record_lang, self_cognition
from lmforge.synth.self_instruct import Filters, read_seed_tasks, self_instruct
from lmforge.synth.skills import number_preferences, number_questions, number_skill
from lmforge.text import iter_jsonl
from lmforge.tokenizer import Tokenizer
from lmforge.tokenizer.chat_template import ChatFormatError

Lang = Literal["zh", "en"]


class _Op(BaseModel):
    model_config = ConfigDict(extra="forbid")


@dataclass
class Written:
    """Records written to one file (of how many read or wanted, where that means something)."""

    path: str
    records: int
    of: int | None = None


class _OneFile(_Op):
    """One instruction jsonl in, one out."""

    input: InputPath = Field(description="instruction jsonl (alpaca, sharegpt, messages or prompt/response)")
    out: str = Field(description="output jsonl")


def record_shape(rec: dict[str, Any]) -> list[dict[str, Any]]:
    """The record's messages when it is a conversation SFT reads, or a DPO pair's prompt and chosen
    turns (its rejected ones checked too); a ChatFormatError says why it is neither."""
    if "chosen" not in rec and "rejected" not in rec:
        return to_messages(rec)
    missing = [k for k in ("prompt", "chosen", "rejected") if k not in rec]
    if missing:
        raise ChatFormatError(f"a pair without {', '.join(missing)}")
    pair_turns(rec, "rejected", "assistant")
    return pair_turns(rec, "prompt", "user") + pair_turns(rec, "chosen", "assistant")


def read_checked(paths: list[str], label: str, what: str,
                 check: Callable[[dict[str, Any]], Any] = record_shape) -> list[tuple[dict[str, Any], Any]]:
    """(record, check(record)) for the records of `paths` that `check` accepts; the others are
    counted and the first few named (`file:line: why`), as SFT/DPO do; none left is an error
    naming them. A malformed line is an error naming it."""
    kept, stats = [], Skips()
    for path in paths:
        for where, rec in iter_jsonl(path, strict=True):
            try:
                kept.append((rec, check(rec)))
            except (ChatFormatError, ExamRecordError) as e:
                stats.skip(skip_reason(e), where, str(e))
                continue
            stats["kept"] += 1
    stats.report(label, what, paths)
    return kept


def _keep(cfg: _OneFile, label: str, keep, check: Callable[[dict[str, Any]], Any] = record_shape) -> Written:
    """The records of `input` for which keep(record, check(record)) holds, written to `out`."""
    records = read_checked([cfg.input], label, "usable records", check)
    return Written(cfg.out, write_jsonl_atomic(Path(cfg.out), (r for r, c in records if keep(r, c))), len(records))


class FilterLangConfig(_OneFile):
    lang: Lang = Field("zh", description="keep records of this language (`lang` field, else the text's)")


def run_filter_lang(cfg: FilterLangConfig) -> Written:
    """`lmforge sft-data filter-lang`: records whose language is `lang`."""
    return _keep(cfg, "filter-lang input", lambda r, _: record_lang(r) == cfg.lang)


class FilterLengthConfig(_OneFile):
    tokenizer: str = Field(description="tokenizer folder (its chat template renders the records)")
    min_tokens: int = Field(0, ge=0, description="keep conversations of at least this many tokens")
    max_tokens: int = Field(10**9, gt=0, description="... and at most this many")

    @model_validator(mode="after")
    def _band(self) -> "FilterLengthConfig":
        if self.min_tokens > self.max_tokens:
            raise UserError(f"--min-tokens {self.min_tokens} is above --max-tokens {self.max_tokens}")
        return self


def run_filter_length(cfg: FilterLengthConfig) -> Written:
    """`lmforge sft-data filter-length`: records whose rendered token length is in the band."""
    tok = Tokenizer.from_dir(cfg.tokenizer)
    return _keep(cfg, "filter-length input", lambda r, ids: cfg.min_tokens <= len(ids) <= cfg.max_tokens,
                 lambda r: encode(tok, to_messages(r))[0])


class MixConfig(_Op):
    inputs: list[str] = Field(description="FILE:WEIGHT ... (a weight is a share of `total`; default 1)")
    out: str = Field(description="output jsonl")
    total: int = Field(gt=0, description="records in the mixture")
    seed: int = Field(0, description="sampling seed")

    @field_validator("inputs")
    @classmethod
    def _file_weight(cls, value: list[str], info: ValidationInfo) -> list[str]:
        pairs = [_file_and_weight(s) for s in value]
        bad = [s for s, (_, w) in zip(value, pairs) if w is None or w < 0]
        if bad:
            raise UserError(f"{bad[0]}: expected FILE or FILE:WEIGHT (a number >= 0)")
        if not made_later(info):
            check_inputs([f for f, _ in pairs])
        return value

    def weighted(self) -> list[tuple[str, float]]:
        return [_file_and_weight(s) for s in self.inputs]  # type: ignore[misc]


def _file_and_weight(spec: str) -> tuple[str, float | None]:
    path, _, weight = spec.rpartition(":") if ":" in spec else (spec, "", "1")
    try:
        return path, float(weight)
    except ValueError:
        return spec, None


def run_mix(cfg: MixConfig) -> Written:
    """`lmforge sft-data mix`: each file's share of `total`, sampled (with replacement when short)."""
    rng = random.Random(cfg.seed)
    specs = cfg.weighted()
    total_w = sum(w for _, w in specs)
    out: list[dict[str, Any]] = []
    for f, w in specs:
        recs = [r for r, _ in read_checked([f], f"mix input {f}", "usable records")]
        n = round(cfg.total * w / total_w)
        out += rng.sample(recs, n) if n <= len(recs) else [rng.choice(recs) for _ in range(n)]
    rng.shuffle(out)
    return Written(cfg.out, write_jsonl_atomic(Path(cfg.out), out))


class ExamConfig(_OneFile):
    out: str = Field(description="output folder: cot.jsonl, non_cot.jsonl")


def run_exam(cfg: ExamConfig) -> list[Written]:
    """`lmforge sft-data exam`: WanJuan exam records -> CoT and non-CoT prompt/response files."""
    converted = [c for _, c in read_checked([cfg.input], "exam input", "exam records", exam_to_samples)]
    Path(cfg.out).mkdir(parents=True, exist_ok=True)
    return [Written(str(path), write_jsonl_atomic(path, (c[kind] for c in converted)))
            for kind in ("cot", "non_cot") for path in [Path(cfg.out) / f"{kind}.jsonl"]]


class SelfCognitionOptions(_Op):
    name: str = Field(description="the model's name")
    author: str = Field(description="who made it")
    count: int = Field(200, gt=0, description="question/answer records (zh + en)")


class SelfCognitionConfig(SelfCognitionOptions):
    out: str = Field(description="output jsonl")
    seed: int = Field(0, description="sampling seed")


def run_self_cognition(cfg: SelfCognitionConfig) -> Written:
    """`lmforge sft-data self-cognition`: who-are-you records from a name and an author."""
    records = self_cognition(cfg.name, cfg.author, cfg.count, cfg.seed)
    return Written(cfg.out, write_jsonl_atomic(Path(cfg.out), records))


class SelfInstructConfig(_Op):
    teacher: str = Field(description="OpenAI-compatible endpoint URL, e.g. http://127.0.0.1:8000/v1")

    @field_validator("teacher")
    @classmethod
    def _url(cls, teacher: str) -> str:
        if not teacher.startswith(("http://", "https://")):
            raise UserError(f"--teacher {teacher!r}: expected an http:// or https:// URL")
        return teacher
    seed_tasks: InputPath = Field(description="jsonl of instruction/input/output seed tasks")
    n: int = Field(gt=0, description="tasks wanted in `out` (ones already there count)")
    out: str = Field(description="alpaca jsonl, appended as tasks pass the filters (resumable)")
    lang: Lang = Field("en", description="language of the generated tasks")
    model: str | None = Field(None, description="teacher model name (default: the endpoint's first)")
    api_key: str | None = Field(None, description="bearer token for the endpoint")
    rps: float = Field(2.0, gt=0, description="at most this many requests per second")
    max_rouge: float = Field(0.7, gt=0, le=1, description="reject a task whose ROUGE-L to a kept one is above")
    max_requests: int | None = Field(None, gt=0, description="stop after this many requests (default 20 x n)")
    max_tokens: int = Field(512, gt=0, description="teacher tokens per request")
    temperature: float = Field(1.0, ge=0, description="teacher sampling temperature")
    seed: int = Field(0, description="example sampling seed")


def run_self_instruct(cfg: SelfInstructConfig) -> dict[str, int]:
    """`lmforge sft-data self-instruct`: counts (kept, requests, rejected_<why>)."""
    client = ChatClient(cfg.teacher, model=cfg.model, api_key=cfg.api_key, rps=cfg.rps)
    return self_instruct(client, read_seed_tasks(cfg.seed_tasks), cfg.n, cfg.out, cfg.lang,
                         Filters(max_rouge=cfg.max_rouge, lang=cfg.lang), seed=cfg.seed,
                         max_requests=cfg.max_requests, temperature=cfg.temperature,
                         max_tokens=cfg.max_tokens)


class SFTMixtureConfig(_Op):
    """An SFT mixture (train.jsonl), a held-out skill test (skill_test.jsonl) and DPO pairs
    (pairs.jsonl). The skill (write a number in Chinese or English words) has a known answer;
    test numbers never appear in training."""

    out: str = Field(description="output folder: train.jsonl, skill_test.jsonl, skill_val.jsonl, pairs.jsonl")
    skill_count: int = Field(600, ge=0, description="synthetic number-reading samples (zh + en)")
    skill_test: int = Field(40, ge=0, description=(
        "skill test questions: skill_test // 2 held-out numbers (at most 25), each asked in zh and en"))
    skill_val: int = Field(0, ge=0, description=(
        "validation questions (skill_val.jsonl): skill_val // 2 more held-out numbers, each asked in zh and en, "
        "to choose settings on without looking at the test"))
    rl_numbers: int = Field(0, ge=0, le=40, description=(
        "numbers kept out of SFT and DPO for RL alone (prompts with a checker, no demonstration)"))
    pairs: int = Field(300, ge=0, description="DPO pairs of the same skill")
    self_cognition: SelfCognitionOptions | None = Field(None, description="who-are-you records")
    exam: InputPaths = Field(default_factory=list, description="WanJuan-schema exam jsonl (CoT + non-CoT)")
    files: InputPaths = Field(default_factory=list, description="your instruction jsonl files")
    lang: Lang | None = Field(None, description="keep only records in this language")
    seed: int = Field(0, description="seed of the split and the samples")


@dataclass
class SFTMixture:
    train: int
    skill_test: int
    parts: dict[str, int]  # part name -> records in train.jsonl (after the language filter)
    numbers: dict[str, list[int]] = field(default_factory=dict)  # split -> its numbers (train, test, val, rl)


def split_numbers(cfg: SFTMixtureConfig) -> dict[str, list[int]]:
    """0..99 split into test, validation, RL-only and training numbers (disjoint; the test's
    numbers drawn first, so they do not depend on the other splits' sizes)."""
    rng = random.Random(cfg.seed)
    rest = list(range(100))
    split: dict[str, list[int]] = {}
    for name, k in (("test", min(cfg.skill_test // 2, 25)), ("val", cfg.skill_val // 2), ("rl", cfg.rl_numbers)):
        if k > len(rest) - 20:
            raise UserError(f"skill_test, skill_val and rl_numbers leave fewer than 20 of the 100 numbers "
                            f"for training (at {name}: {k} of {len(rest)} left)")
        chosen = set(rng.sample(rest, k)) if k else set()
        split[name] = sorted(chosen)
        rest = [n for n in rest if n not in chosen]
    split["train"] = rest
    return split


def _parts(cfg: SFTMixtureConfig, train_numbers: list[int]) -> dict[str, list[dict[str, Any]]]:
    parts = {"number skill": number_skill(cfg.skill_count, cfg.seed, train_numbers) if cfg.skill_count else []}
    if cfg.self_cognition:
        sc = cfg.self_cognition
        parts["self-cognition"] = self_cognition(sc.name, sc.author, sc.count, cfg.seed)
    for f in cfg.exam:
        samples = [c for _, c in read_checked([f], f"exam {f}", "exam records", exam_to_samples)]
        parts["exam (non-CoT)"] = [s["non_cot"] for s in samples]
        parts["exam (CoT)"] = [s["cot"] for s in samples]
    for f in cfg.files:
        parts[Path(f).name] = [r for r, _ in read_checked([f], f"sft file {f}", "usable records")]
    if cfg.lang:
        parts = {k: [r for r in v if record_lang(r) == cfg.lang] for k, v in parts.items()}
    return parts


def run_sft_mixture(cfg: SFTMixtureConfig) -> SFTMixture:
    """Write train.jsonl, skill_test.jsonl, skill_val.jsonl and pairs.jsonl to `out`."""
    numbers = split_numbers(cfg)
    parts = _parts(cfg, numbers["train"])
    train = [r for rows in parts.values() for r in rows]
    random.Random(cfg.seed).shuffle(train)
    out = Path(cfg.out)
    out.mkdir(parents=True, exist_ok=True)
    write_jsonl_atomic(out / "train.jsonl", train)
    test = number_questions(numbers["test"], cfg.seed + 1)
    write_jsonl_atomic(out / "skill_test.jsonl", test)
    write_jsonl_atomic(out / "skill_val.jsonl", number_questions(numbers["val"], cfg.seed + 2))
    write_jsonl_atomic(out / "pairs.jsonl", number_preferences(cfg.pairs, cfg.seed, numbers["train"]))
    return SFTMixture(len(train), len(test), {k: len(v) for k, v in parts.items()}, numbers)

