"""The stage kinds a recipe can use: each kind's parameters (an operation's own config, or a
StageParams for report-only stages) and its function. Stage modules register here; the runner
reads the registry."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from pydantic import BaseModel, ConfigDict

from lmforge.config import ConfigError, validate


@dataclass
class StageContext:
    name: str
    out_dir: Path  # this stage's folder
    run_dir: Path  # the recipe's folder
    outputs: dict[str, str]  # earlier stage name -> output path
    summaries: dict[str, dict[str, Any]] = field(default_factory=dict)
    scale: str = "tiny"


class StageParams(BaseModel):
    """A stage kind's parameters: typed, unknown keys rejected when the recipe is loaded."""

    model_config = ConfigDict(extra="forbid")


# kind -> (its parameters, function(params, ctx) -> (output path, summary for the report))
StageFn = Callable[[Any, StageContext], tuple[str, dict[str, Any]]]
STAGE_KINDS: dict[str, tuple[type[BaseModel], StageFn]] = {}


def stage_kind(name: str, params: type[BaseModel]) -> Callable[[StageFn], StageFn]:
    """Register a stage kind; `params` is the operation's own config (its `out` is the stage's
    folder) or, for report-only stages, a StageParams."""
    def deco(fn: StageFn) -> StageFn:
        STAGE_KINDS[name] = (params, fn)
        return fn
    return deco


def check_params(kind: str, params: dict[str, Any], where: str, when_loading: bool = False,
                 out_dir: Path | None = None) -> BaseModel:
    """Typed parameters; while loading a recipe, files that earlier stages will write are not
    checked yet. A kind whose parameters are an operation's config (with an `out` field) gets
    the stage's own folder as `out`: the runner decides where each stage writes."""
    cls = STAGE_KINDS[kind][0]
    if "out" in cls.model_fields:
        if "out" in params:
            raise ConfigError(f"{where}.out: set by the recipe runner (each stage writes its own folder)")
        params = {**params, "out": str(out_dir or ".")}
    return validate(cls, params, where, {"files_made_later": when_loading})
