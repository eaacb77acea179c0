"""Sweep model sizes x token budgets: each point is an ordinary `lmforge pretrain` run.

One knob sets the size (nanochat style): depth L -> width = aspect * L, heads = width / head_dim,
MLP width ~ 8/3 width (SwiGLU). Rows are appended to results.csv as each run finishes, so an
interrupted sweep resumes at the first missing (depth, tokens) point. `run_sweep(SweepConfig)`
is the operation behind `lmforge scaling sweep`.
"""

from __future__ import annotations

import csv
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Sequence

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator
from tqdm import tqdm

from lmforge.config import read_yaml
from lmforge.tokens.pack import read_manifest
from lmforge.errors import UserError
from lmforge.model.config import ModelConfig, preset
from lmforge.model.flops import flops_per_token, param_count
from lmforge.report import read_metrics
from lmforge.train.pretrain import PretrainConfig, run_pretrain

COLUMNS = ["depth", "width", "tokens_budget", "N", "N_total", "D", "FLOPs", "final_val_loss",
           "best_val_loss", "loss", "wall_s", "run_dir"]


@dataclass
class RunOutcome:
    """What a runner reports for one point: tokens trained on and validation losses."""

    tokens: int
    final_val_loss: float
    best_val_loss: float


Runner = Callable[[PretrainConfig], RunOutcome]


def number_list(value: Any) -> Any:
    """`2,4,6` or `[2, 4, 6]` or `[1e6, 2e6]` -> a list of ints."""
    items = value.split(",") if isinstance(value, str) else value
    if not isinstance(items, list):
        return items
    out = []
    for item in items:
        parts = item.split(",") if isinstance(item, str) else [item]
        try:
            out += [int(float(p)) for p in parts if str(p).strip()]
        except ValueError:
            raise UserError(f"expected numbers such as 2,4,6 or 1e6; got {item!r}") from None
    return out


def _merged(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for k, v in over.items():
        out[k] = _merged(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
    return out


class SweepConfig(BaseModel):
    """A grid of model depths x token budgets, each point a `lmforge pretrain` run."""

    model_config = ConfigDict(extra="forbid")
    base: str | None = Field(None, description="`lmforge pretrain` YAML (model.preset, data, train)")
    pretrain: dict[str, Any] = Field(default_factory=dict,
                                     description="pretrain settings over the base file (pretrain.train.lr=...)")
    depths: list[int] = Field(min_length=1, description="model depths, e.g. 2,4,6,8 (width = aspect x depth)")
    tokens: list[int] = Field(min_length=1, description="token budgets, e.g. 1e6,2e6,4e6")
    aspect: int = Field(64, gt=0, description="width per layer of depth")
    head_dim: int = Field(64, gt=0, description="attention head width")
    out: str = Field(description="sweep folder (results.csv, runs/)")

    _split = field_validator("depths", "tokens", mode="before")(number_list)

    @field_validator("depths", "tokens")
    @classmethod
    def _positive(cls, values: list[int], info: ValidationInfo) -> list[int]:
        if any(v <= 0 for v in values):
            raise UserError(f"--{info.field_name}: every value must be above 0 (got {values})")
        return values

    def settings(self) -> dict[str, Any]:
        """The base pretrain settings: the file (if any) with `pretrain` over it."""
        return sweep_settings(self.base, self.pretrain)


def sweep_settings(base: str | None, pretrain: dict[str, Any]) -> dict[str, Any]:
    """A sweep's pretrain settings: the `base` YAML (if any) with `pretrain` over it."""
    data = _merged(read_yaml(base) if base else {}, pretrain)
    if "preset" not in (data.get("model") or {}):
        where = base or "pretrain"
        raise UserError(f"{where}: model.preset is required for a sweep (sizes come from depths)")
    return data


def size_overrides(depth: int, aspect: int = 64, head_dim: int = 64, kv_ratio: int = 1) -> dict[str, int]:
    """Model shape from the depth knob: width = aspect * depth, MLP ~ 8/3 width rounded to 32."""
    if depth < 1:
        raise UserError(f"depth must be >= 1, got {depth}")
    width = aspect * depth
    heads = max(1, width // head_dim)
    if width % heads:
        raise UserError(f"width {width} is not divisible into heads of {head_dim}")
    return {"hidden_size": width, "num_hidden_layers": depth, "num_attention_heads": heads,
            "num_key_value_heads": max(1, heads // kv_ratio),
            "intermediate_size": 32 * -(-8 * width // (3 * 32)), "head_dim": width // heads}


def non_embedding_params(cfg: ModelConfig) -> int:
    """Kaplan et al.'s N: without embedding tables, whose size would dominate tiny sweeps."""
    embed = cfg.vocab_size * cfg.hidden_size * (1 if cfg.tie_word_embeddings else 2)
    return param_count(cfg) - embed


def _best_val(run_dir: Path) -> float | None:
    path = run_dir / "metrics.jsonl"
    if not path.is_file():
        return None
    vals = [r["val_loss"] for r in read_metrics(path) if isinstance(r.get("val_loss"), (int, float))]
    return min(vals) if vals else None


def pretrain_runner(cfg: Any) -> RunOutcome:
    """Run one point with the real trainer (`lmforge pretrain` semantics)."""
    result, _ = run_pretrain(cfg, created_by="lmforge scaling sweep")
    if result.interrupted or result.val_loss is None:
        raise RuntimeError(f"run {cfg.out} did not finish with a validation loss; rerun to resume")
    best = _best_val(Path(cfg.out))
    return RunOutcome(result.tokens, result.val_loss, min(result.val_loss, best or result.val_loss))


def _done(csv_path: Path) -> set[tuple[int, int]]:
    if not csv_path.is_file():
        return set()
    with csv_path.open(newline="") as f:
        return {(int(r["depth"]), int(r["tokens_budget"])) for r in csv.DictReader(f)}


def _append(csv_path: Path, row: dict[str, Any]) -> None:
    new = not csv_path.is_file()
    with csv_path.open("a", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=COLUMNS)
        if new:
            writer.writeheader()
        writer.writerow(row)
        f.flush()


def sweep_grid(base: dict[str, Any], depths: Sequence[int], token_budgets: Sequence[int], out_dir: str | Path,
              aspect: int = 64, head_dim: int = 64, runner: Runner | None = None) -> Path:
    """Train every (depth, budget) point not yet in out_dir/results.csv; returns the CSV path.

    `base` is a `lmforge pretrain` config (dict); its model preset supplies vocab and the other
    fields, its train section the batch and seq_len; max_steps comes from each budget.
    """
    points = [(d, t) for d in depths for t in token_budgets]
    return sweep_points(base, points, out_dir, aspect, head_dim, runner)


def point_config(base: dict[str, Any], depth: int, budget: int, run_dir: Path, aspect: int = 64,
                 head_dim: int = 64, batch_size: int | None = None) -> PretrainConfig:
    """The pretrain config of one point: the depth's shape, max_steps from the token budget (and
    the batch, when the point sets its own)."""
    model = {**base["model"], **size_overrides(depth, aspect, head_dim)}
    train = {**base.get("train", {}), **({"batch_size": batch_size} if batch_size else {})}
    cfg = PretrainConfig.model_validate({**base, "model": model, "out": str(run_dir), "train": train})
    train = {**train, "max_steps": max(1, budget // cfg.train.tokens_per_step())}
    return PretrainConfig.model_validate({**base, "model": model, "out": str(run_dir), "train": train})


def point_shape(cfg: PretrainConfig) -> ModelConfig:
    """The model shape a point's config trains (vocabulary from its packed data)."""
    vocab = read_manifest(cfg.data.path)["vocab_size"]
    return preset(cfg.model.preset, **{"vocab_size": vocab, **cfg.model.overrides()})


def sweep_points(base: dict[str, Any], points: Sequence[tuple[int, ...]], out_dir: str | Path,
                 aspect: int = 64, head_dim: int = 64, runner: Runner | None = None) -> Path:
    """Train every (depth, tokens) or (depth, tokens, batch_size) point not yet in
    out_dir/results.csv; returns the CSV path."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    csv_path = out_dir / "results.csv"
    done = _done(csv_path)
    runner = runner or pretrain_runner
    for depth, budget, *batch in tqdm(points, desc="scaling sweep", unit="run"):
        if (depth, budget) in done:
            continue
        run_dir = out_dir / "runs" / f"d{depth}-t{budget}"
        cfg = point_config(base, depth, budget, run_dir, aspect, head_dim, *batch)
        mcfg = point_shape(cfg)
        t0 = time.time()
        outcome = runner(cfg)
        _append(csv_path, {
            "depth": depth, "width": mcfg.hidden_size, "tokens_budget": budget,
            "N": non_embedding_params(mcfg), "N_total": param_count(mcfg), "D": outcome.tokens,
            "FLOPs": flops_per_token(mcfg, cfg.train.seq_len) * outcome.tokens,
            "final_val_loss": outcome.final_val_loss, "best_val_loss": outcome.best_val_loss,
            "loss": outcome.final_val_loss, "wall_s": round(time.time() - t0, 2), "run_dir": str(run_dir)})
        done.add((depth, budget))
    return csv_path


def isoflop_points(base: dict[str, Any], depths: Sequence[int], flops: Sequence[float], aspect: int = 64,
                   head_dim: int = 64, min_steps: int = 1, max_steps: int | None = None,
                   steps: int | None = None) -> list[tuple[int, int, int]]:
    """Chinchilla approach 2: for each FLOPs budget C, each depth trained on C / FLOPs-per-token
    tokens: (depth, tokens, batch_size) points. With `steps`, every point takes that many optimizer
    steps and its batch (rows) comes from the budget, so a bigger model is not also a less-trained
    one; points whose batch would be under one row are left out. Without it, the base batch is kept
    and points outside [min_steps, max_steps] steps are left out (a model too big for the budget
    barely warms up, one too small costs many cheap steps)."""
    points = []
    for c in flops:
        for depth in depths:
            cfg = point_config(base, depth, 10**12, Path("."), aspect, head_dim)  # any budget: the shape
            tokens = c / flops_per_token(point_shape(cfg), cfg.train.seq_len)
            per_row = cfg.train.tokens_per_step() // cfg.train.batch_size  # tokens of one row, one step
            if steps is not None:
                rows = round(tokens / (steps * per_row))
                if rows >= 1:
                    points.append((depth, steps * rows * per_row, rows))
                continue
            n = int(tokens / cfg.train.tokens_per_step())
            if n >= min_steps and (max_steps is None or n <= max_steps):
                points.append((depth, n * cfg.train.tokens_per_step(), cfg.train.batch_size))
    return points


def run_sweep(cfg: SweepConfig, runner: Runner | None = None) -> Path:
    """`lmforge scaling sweep`: train the missing points; the results CSV."""
    return sweep_grid(cfg.settings(), cfg.depths, cfg.tokens, cfg.out, cfg.aspect, cfg.head_dim, runner)
