"""What every `lmforge eval` kind shares: the device/dtype/limit/out settings, the model folder,
the multiple-choice task list, loading the model once, and the one results writer
(`results.json` + `results.md`, written atomically)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator, model_validator

from lmforge.errors import UserError
from lmforge.files import atomic_dir, check_output_path
from lmforge.model.loader import DTYPE_HELP, DEVICE_HELP, DType, Loaded, load_for_inference
from lmforge.train.boundary import check_model_folder


def _made_later(info: ValidationInfo) -> bool:
    """True while a recipe is loaded: an earlier stage writes the files later."""
    return bool((info.context or {}).get("files_made_later"))


def must_exist(value: str | list[str] | None, info: ValidationInfo) -> Any:
    """For a field validator: every path in `value` exists (not checked while a recipe loads)."""
    if not _made_later(info):
        for path in [value] if isinstance(value, str) else value or []:
            if not Path(path).exists():
                raise ValueError(f"{path} not found")
    return value


class EvalOutput(BaseModel):
    """How much is evaluated and where the results go."""

    model_config = ConfigDict(extra="forbid")
    limit: int | None = Field(None, gt=0, description="only the first N items (per task)")
    out: str | None = Field(None, description="results folder: results.json + results.md, written "
                                              "atomically (none: print only)")


class EvalSettings(EvalOutput):
    """... and where the model runs."""

    device: str = Field("cpu", description=f"where the model runs: {DEVICE_HELP}")
    dtype: DType = Field("auto", description=f"weights and activations: {DTYPE_HELP}")


class ModelFolder(BaseModel):
    """The model evaluated: a folder with config.json, weights and its tokenizer."""

    model: str = Field(description="model folder (with its tokenizer)")

    @field_validator("model")
    @classmethod
    def _is_model(cls, model: str, info: ValidationInfo) -> str:
        if not _made_later(info) and not (Path(model) / "config.json").is_file():
            raise ValueError(f"{model} is not a model folder (no config.json)")
        return model


def parse_tasks(spec: str | list[str], data_dir: str | None) -> dict[str, str]:
    """`ceval=DIR,mmlu` (or a list of such items) -> {task: folder}; a bare name is a sub-folder
    of `data_dir`."""
    parts = spec.split(",") if isinstance(spec, str) else [str(s) for s in spec]
    tasks = {}
    for part in filter(None, (p.strip() for p in parts)):
        name, _, path = part.partition("=")
        if not path and data_dir is None:
            raise ValueError(f"tasks: {name!r} has no folder; give data_dir (--data-dir) or {name}=DIR")
        tasks[name] = path or str(Path(data_dir) / name)
    return tasks


class TaskSet(BaseModel):
    """Multiple-choice benchmarks read from local files."""

    tasks: dict[str, str] = Field(default_factory=dict, description=(
        "task (ceval, cmmlu, mmlu, agieval, jsonl, evals-mc) -> data folder; on the command line "
        "--tasks ceval=DIR,mmlu=DIR or tasks.ceval=DIR (a bare name is a sub-folder of --data-dir)"))
    data_dir: str | None = Field(None, description="folder holding one sub-folder per task name")

    @model_validator(mode="before")
    @classmethod
    def _task_list(cls, data: Any) -> Any:
        if isinstance(data, dict) and isinstance(data.get("tasks"), (str, list)):
            data = {**data, "tasks": parse_tasks(data["tasks"], data.get("data_dir"))}
        return data

    @field_validator("tasks")
    @classmethod
    def _tasks_exist(cls, tasks: dict[str, str], info: ValidationInfo) -> dict[str, str]:
        if not _made_later(info):
            for name, folder in tasks.items():
                if not Path(folder).exists():
                    raise ValueError(f"{name}: {folder} not found")
        return tasks

    def require_tasks(self, verb: str) -> None:
        if not self.tasks:
            raise UserError(f"eval {verb}: no tasks; give --tasks NAME=DIR[,NAME=DIR] (or tasks.NAME=DIR)")


@dataclass
class EvalResult:
    """What an eval kind measured: the numbers, a markdown report, and where they were written."""

    kind: str
    results: dict[str, Any]
    report: str
    out: Path | None = None


def check_out(cfg: EvalOutput) -> None:
    """Refuse an unwritable --out before any work starts."""
    if cfg.out is not None:
        check_output_path(cfg.out, "dir", "--out")


def load_model_for(cfg: EvalSettings, folder: str, loaded: Loaded | None = None) -> Loaded:
    """The caller's already loaded model (a recipe scores one model many ways), else `folder`
    loaded on the config's device in its dtype, after checking its tokenizer against it."""
    if loaded is not None:
        return loaded
    check_model_folder(folder)
    return load_for_inference(folder, cfg.device, cfg.dtype)


def finish(cfg: EvalOutput, kind: str, results: dict[str, Any], report: str) -> EvalResult:
    """The one results writer: <out>/results.json ({kind, model, config, results}) and
    <out>/results.md (the report), both in one atomic rename; nothing written without `out`."""
    if cfg.out is None:
        return EvalResult(kind, results, report)
    body = {"kind": kind, "model": getattr(cfg, "model", None),
            "config": cfg.model_dump(mode="json"), "results": results}
    with atomic_dir(cfg.out) as tmp:
        (tmp / "results.json").write_text(_json(body), encoding="utf-8")
        (tmp / "results.md").write_text(report, encoding="utf-8")
    return EvalResult(kind, results, report, Path(cfg.out))


def _json(value: Any) -> str:
    return json.dumps(value, indent=2, ensure_ascii=False) + "\n"


def ci_text(ci: list[float] | tuple[float, float], digits: int = 4) -> str:
    """A 95% interval as a table cell: `[low, high]`."""
    return f"[{ci[0]:.{digits}f}, {ci[1]:.{digits}f}]"


def markdown(header: list[str], rows: list[list[Any]]) -> str:
    """A markdown table; floats with 4 decimals."""
    def cell(v: Any) -> str:
        return f"{v:.4f}" if isinstance(v, float) else str(v)

    lines = ["| " + " | ".join(header) + " |", "|---" + "|---:" * (len(header) - 1) + "|"]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in rows]
    return "\n".join(lines) + "\n"
