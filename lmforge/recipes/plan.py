"""`lmforge run RECIPE --dry-run`: each stage's model size and compute, without running it.

Every stage's parameters are the operation's typed config (validated when the recipe loads), so
the plan reads typed fields; shapes follow the stages that change them (DUS depth, MoE experts,
a grown vocabulary), and a fresh model's vocabulary is its tokenizer's when that is known. The
tokenizers are checked on the way (recipes/tokcheck.py): a base folder's tokenizer against its
config.json, packed data and extensions against the model's tokenizer.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import BaseModel

from lmforge.grow.dus import dus_layers
from lmforge.model.config import ModelConfig
from lmforge.model.flops import flops_per_token, human, param_count
from lmforge.model.io import load_config
from lmforge.model.memory import TrainShape, estimate_training_memory
from lmforge.model.source import ModelSource
from lmforge.recipes.kinds import check_params
from lmforge.recipes.tokcheck import TokenizerTrack, check_fits
from lmforge.train.config import TrainConfig

DATA_SUFFIXES = (".jsonl", ".json", ".txt", ".csv", ".parquet", ".gz", ".zst", ".yaml", ".yml", ".model")
TUNING = ("sft", "dpo")  # rows are conversations (pairs) of up to data.max_len tokens


class Known:
    """What earlier stages will produce: model shapes by stage name, and their tokenizers."""

    def __init__(self) -> None:
        self.models: dict[str, ModelConfig] = {}
        self.tokens = TokenizerTrack()

    def vocab(self, tokenizer: str | None) -> int | None:
        tok = self.tokens.ref(tokenizer)
        return tok.vocab if tok is not None else None

    def model(self, source: Any, tokenizer: str | None = None) -> ModelConfig | None:
        """The shape of a model reference: "@stage", a folder, or a fresh preset."""
        if isinstance(source, str):
            if source.startswith("@"):
                return self.models.get(source[1:].split("/")[0])
            return load_config(source) if (Path(source) / "config.json").is_file() else None
        if not isinstance(source, ModelSource):
            return None
        if source.path and (source.path.startswith("@") or (Path(source.path) / "config.json").is_file()):
            return self.model(source.path)
        if not source.preset:
            return None
        vocab = self.vocab(source.tokenizer or tokenizer)
        return source.model_copy(update={"tokenizer": None}).fresh_config(vocab_size=vocab)


def _grown(kind: str, p: BaseModel, cfg: ModelConfig, known: Known) -> ModelConfig:
    """The shape after a stage that changes it."""
    if kind == "grow_dus":
        _, layers = dus_layers(cfg.num_hidden_layers, getattr(p, "drop", None), getattr(p, "target_layers", None))
        return cfg.model_copy(update={"num_hidden_layers": layers})
    if kind == "grow_upcycle":
        return cfg.model_copy(update={"num_local_experts": p.experts, "num_experts_per_tok": p.top_k})
    if kind == "grow_vocab":
        size = getattr(p, "vocab_size", None) or known.vocab(getattr(p, "tokenizer", None))
        return cfg.model_copy(update={"vocab_size": size}) if size else cfg
    return cfg


def _memory_gib(cfg: ModelConfig, train: TrainConfig, seq_len: int, rows: int) -> float:
    """Per-GPU peak of one training step on one GPU (bf16 unless fp32 is set), see model/memory.py."""
    shape = TrainShape(seq_len=seq_len, batch_size=rows,
                       precision="fp32" if train.precision == "fp32" else "bf16",
                       activation_checkpointing=train.activation_checkpointing,
                       loss_impl="full" if train.loss_impl == "full" else "chunked")
    return estimate_training_memory(cfg, shape).peak / 2**30


def _seq_len(kind: str, p: BaseModel, cfg: ModelConfig) -> int:
    train = getattr(p, "train", None)
    if kind in TUNING:
        return p.data.max_len
    return train.seq_len if isinstance(train, TrainConfig) else cfg.max_position_embeddings


def _budget(kind: str, p: BaseModel, cfg: ModelConfig) -> dict[str, Any]:
    """Tokens, FLOPs and peak memory of a training stage. SFT/DPO rows are conversations (pairs:
    chosen + rejected) of at most data.max_len tokens, so their tokens are an upper bound; DPO
    adds the frozen reference model's forward pass (a third of a training step's FLOPs)."""
    train = getattr(p, "train", None)
    if not isinstance(train, TrainConfig):
        return {}
    seq = _seq_len(kind, p, cfg)
    out: dict[str, Any] = {}
    if kind in TUNING:
        out["samples"] = train.max_steps * train.batch_size * train.accumulation(1)
        rows = train.batch_size * (2 if kind == "dpo" else 1)
        out["tokens"] = out["samples"] * seq * (2 if kind == "dpo" else 1)
    else:
        rows, out["tokens"] = train.batch_size, train.max_steps * train.tokens_per_step()
    reference = 4 / 3 if kind == "dpo" and p.dpo.loss != "simpo" else 1.0
    out["train_flops"] = flops_per_token(cfg, seq) * out["tokens"] * reference
    out["memory_gib_per_gpu"] = _memory_gib(cfg, train, seq, rows)
    return out


def _stage_shape(kind: str, p: BaseModel, known: Known) -> ModelConfig | None:
    if kind == "model":
        return known.model(p)
    cfg = known.model(getattr(p, "model", None), getattr(p, "tokenizer", None))
    return _grown(kind, p, cfg, known) if cfg is not None else None


def _row(name: str, kind: str, p: BaseModel, known: Known) -> dict[str, Any]:
    notes = len(known.tokens.notes)
    tok = known.tokens.observe(name, kind, p)
    row: dict[str, Any] = {"stage": name, "kind": kind, "notes": known.tokens.notes[notes:]}
    if tok is not None and tok.vocab:
        row["tokenizer"] = tok.describe()
    cfg = _stage_shape(kind, p, known)
    if cfg is None:
        return row
    check_fits(f"stages.{name}", tok, cfg)
    known.models[name] = cfg
    row.update(layers=cfg.num_hidden_layers, params=param_count(cfg), vocab_size=cfg.vocab_size,
               active_params=param_count(cfg, active=True),
               flops_per_token=flops_per_token(cfg, _seq_len(kind, p, cfg)), **_budget(kind, p, cfg))
    return row


def plan(recipe) -> list[dict[str, Any]]:
    """One row per stage: shape, budget and tokenizer; a ConfigError where tokenizers disagree;
    a note for each input path that no earlier stage makes and that is not there."""
    known = Known()
    rows = []
    for name, spec in recipe.stages.items():
        params = {k: v for k, v in spec.items() if k != "kind"}
        p = check_params(spec["kind"], params, f"stages.{name}", when_loading=True)
        rows.append(_row(name, spec["kind"], p, known))
        said = " ".join(rows[-1]["notes"])
        rows[-1]["notes"] += [m for m in missing_inputs(f"stages.{name}", params) if m.split(": ")[0] not in said]
    return rows


def missing_inputs(where: str, value: Any) -> list[str]:
    """`where.key: PATH does not exist` for each local path in `value` (not "@stage" outputs,
    not URLs) that names a folder or a data file and is not on disk."""
    if isinstance(value, dict):
        return [m for k, v in value.items() for m in missing_inputs(f"{where}.{k}", v)]
    if isinstance(value, list):
        return [m for i, v in enumerate(value) for m in missing_inputs(f"{where}[{i}]", v)]
    if not isinstance(value, str) or value.startswith("@") or "://" in value:
        return []
    looks_like_path = "/" in value or value.endswith(DATA_SUFFIXES)
    if looks_like_path and not Path(value).expanduser().exists():
        return [f"{where}: {value} does not exist (yet)"]
    return []


def _line(r: dict[str, Any]) -> str:
    line = f"  {r['stage']:18s} {r['kind']:16s}"
    if "params" in r:
        line += f" {r['layers']:3d} layers {human(r['params']):>9s} params"
        if r["active_params"] != r["params"]:
            line += f" ({human(r['active_params'])} active)"
        line += f" vocab {r['vocab_size']:,} {human(r['flops_per_token']):>8s} FLOPs/token"
    if "samples" in r:
        what = "pairs" if r["kind"] == "dpo" else "conversations"
        line += f" x {human(r['samples'])} {what}"
    if "tokens" in r:
        bound = "<= " if "samples" in r else ""
        line += (f" x {bound}{human(r['tokens'])} tokens = {r['train_flops']:.3g} FLOPs,"
                 f" peak {r['memory_gib_per_gpu']:.1f} GiB on one GPU")
    elif "tokenizer" in r and r["kind"] in ("tokenizer", "tokenizer_folder", "tokenizer_extend", "pack"):
        line += f" tokenizer {r['tokenizer']}"
    return line


def print_plan(recipe) -> None:
    print(f"recipe {recipe.name} (scale {recipe.scale}) -> {recipe.out}")
    for r in plan(recipe):
        print(_line(r))
        for note in r["notes"]:
            print(f"    ! {note}")
