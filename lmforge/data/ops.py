"""The data operations as typed configs and run functions: `run_clean`, `run_dedup`,
`run_demo_corpus`. The `lmforge data ...` verbs and the recipe's `corpus` stage are derived from
these configs; the shared input fields (`input`, `field`, `txt_mode`, ...) are written once here.
"""

from __future__ import annotations

import glob
import itertools
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Iterable, Literal

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, ValidationInfo, field_validator

from lmforge.config import read_yaml
from lmforge.data.clean import Cleaner
from lmforge.data.corpus import demo_corpus
from lmforge.data.dedup import DEFAULT_THRESHOLD
from lmforge.data.pipeline import RunOptions, process_sources, write_jsonl_atomic
from lmforge.data.remote import RemoteDocuments, expand_url, is_url, remote_by_source
from lmforge.data.read import (TXT_MODE_HELP, ReadStats, TxtMode, documents_by_language, documents_by_source, expand,
                               read_documents)
from lmforge.errors import UserError


def made_later(info: ValidationInfo) -> bool:
    """True while a recipe is loaded: an earlier stage writes the files, so don't check them yet."""
    return bool((info.context or {}).get("files_made_later"))


class TextField(BaseModel):
    model_config = ConfigDict(extra="forbid")
    field: str = Field("text", description="text field of jsonl/json/parquet records")


def check_inputs(paths: Iterable[str]) -> None:
    """A UserError for a path that is no file, folder or glob match."""
    for p in paths:
        if is_url(p):
            expand_url(str(p))
        elif not Path(p).exists() and not glob.glob(str(p), recursive=True):
            raise UserError(f"{p}: no such file, folder or glob match")


def _existing(value: Any, info: ValidationInfo) -> Any:
    if not made_later(info):
        check_inputs([value] if isinstance(value, str) else value)
    return value


def _one_or_many(value: Any) -> Any:
    return [value] if isinstance(value, (str, Path)) else value


# Input paths checked when the config is read (in a recipe: when the stage runs, since an
# earlier stage may write them); a single string is a list of one.
InputPath = Annotated[str, AfterValidator(_existing)]
InputPaths = Annotated[list[str], BeforeValidator(_one_or_many), AfterValidator(_existing)]


class TextInputs(TextField):
    """Files, folders or globs to read documents from."""

    input: InputPaths = Field(description="files, folders or globs (txt, jsonl, json, parquet; .gz/.zst)")


class Inputs(TextInputs):
    """... and how they are read."""

    txt_mode: TxtMode = Field("auto", description=TXT_MODE_HELP)
    strict: bool = Field(False, description="stop at the first malformed record instead of skipping it")

    def documents(self) -> Iterable[str]:
        local = [p for p in self.input if not is_url(p)]
        remote = [p for p in self.input if is_url(p)]
        if not remote:
            return read_documents(expand(local), self.field, self.txt_mode, self.strict, ReadStats())
        docs = [RemoteDocuments([u for p in remote for u in expand_url(p)], self.field, self.strict)]
        return itertools.chain(read_documents(expand(local), self.field, self.txt_mode, self.strict), *docs) \
            if local else docs[0]


class SourcedInputs(Inputs):
    """Inputs grouped into named sources (a source is trained, reported and mixed as one)."""

    source: str | None = Field(None, description="one source name for all inputs "
                                                 "(default: each file's name up to its first dot)")
    split_by: Literal["file", "language"] = Field("file", description=(
        "sources by file name, or by each document's language (zh, en, other) whatever file it is in"))

    def by_source(self) -> dict[str, Iterable[str]]:
        if self.source:
            return {self.source: self.documents()}
        if self.split_by == "language":
            return dict(documents_by_language(self.input, self.field, self.txt_mode, self.strict))
        local = [p for p in self.input if not is_url(p)]
        by: dict[str, Iterable[str]] = dict(documents_by_source(local, self.field, self.txt_mode, self.strict)) \
            if local else {}
        for name, docs in remote_by_source([p for p in self.input if is_url(p)], self.field, self.strict).items():
            by[name] = itertools.chain(by[name], docs) if name in by else docs
        return by


class DedupOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")
    threshold: float = Field(DEFAULT_THRESHOLD, gt=0, le=1,
                             description="near-duplicate Jaccard threshold (MinHash, character 5-grams)")
    engine: Literal["local", "ray"] = Field("local", description="local process pool, or Ray Data (a local or "
                                                                 "existing Ray cluster)")
    workers: int | None = Field(None, ge=1, description="worker processes (default: all cores)")
    address: str | None = Field(None, description="Ray cluster address for --engine ray (default: start Ray "
                                                  "locally; 'auto': the cluster this machine joined)")

    def run_options(self) -> RunOptions:
        return RunOptions(self.engine, self.workers, self.address)


class CleanOptions(DedupOptions):
    steps: list[dict[str, Any]] | None = Field(
        None, description="cleaning steps [{name: {params}}] or a YAML file with a `steps:` list "
                          "(default: the built-in list; [] cleans nothing)")
    dedup: bool = Field(True, description="also drop exact and near duplicates (across all sources)")

    @field_validator("steps", mode="before")
    @classmethod
    def _steps_file(cls, value: Any) -> Any:
        if not isinstance(value, (str, Path)):
            return value
        steps = read_yaml(value).get("steps")
        if not isinstance(steps, list):
            raise UserError(f"{value}: expected a top-level `steps:` list")
        return steps

    @field_validator("steps")
    @classmethod
    def _known_steps(cls, value: list[dict[str, Any]] | None) -> list[dict[str, Any]] | None:
        if value is not None:
            Cleaner(steps=value)  # unknown step names fail here, before any work
        return value


class CleanConfig(CleanOptions, SourcedInputs):
    out: str = Field(description="output folder: <source>.jsonl, report.{json,md}, lengths.png")


class DedupConfig(DedupOptions, SourcedInputs):
    out: str = Field(description="output folder: <source>.jsonl, report.{json,md}, lengths.png")


@dataclass
class CleanResult:
    out: Path
    report: dict[str, Any]  # report.json's content: per source, per step, dedup counts


def clean_sources(docs: dict[str, Iterable[str]], out: str | Path, opts: CleanOptions) -> CleanResult:
    """Clean (and deduplicate) documents by source into `out`, with the report."""
    report = process_sources(docs, out, opts.steps, dedup=opts.dedup, dedup_threshold=opts.threshold,
                             run=opts.run_options())
    return CleanResult(Path(out), report)


def run_clean(cfg: CleanConfig) -> CleanResult:
    """`lmforge data clean`: cleaning steps then exact + MinHash dedup, one jsonl per source."""
    return clean_sources(cfg.by_source(), cfg.out, cfg)


def run_dedup(cfg: DedupConfig) -> CleanResult:
    """`lmforge data dedup`: exact + MinHash dedup only (no cleaning steps)."""
    opts = CleanOptions(steps=[], **DedupOptions.model_validate(cfg.model_dump(include=set(DedupOptions.model_fields))).model_dump())
    return clean_sources(cfg.by_source(), cfg.out, opts)


class DemoCorpusOptions(BaseModel):
    """The built-in bilingual corpus (installed packages, no download)."""

    model_config = ConfigDict(extra="forbid")
    max_chars: int = Field(2_000_000, gt=0, description="characters in all (about)")
    zh_share: float = Field(0.5, ge=0, le=1, description="share of the characters that are Chinese")

    def documents(self) -> dict[str, list[str]]:
        return demo_corpus(self.max_chars, self.zh_share)


class DemoCorpusConfig(DemoCorpusOptions):
    out: str = Field(description="output folder: en.jsonl, zh.jsonl")


def run_demo_corpus(cfg: DemoCorpusConfig) -> dict[str, int]:
    """`lmforge data demo-corpus`: {written file: documents}."""
    out = Path(cfg.out)
    out.mkdir(parents=True, exist_ok=True)
    return {str(out / f"{name}.jsonl"): write_jsonl_atomic(out / f"{name}.jsonl", ({"text": d} for d in docs))
            for name, docs in cfg.documents().items()}
