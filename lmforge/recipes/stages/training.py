"""Recipe stages that make models: pretrain, grow (DUS, vocabulary, MoE upcycling), SFT, DPO."""

from __future__ import annotations

from contextlib import nullcontext
from pathlib import Path
from typing import Any, TypeVar

import torch
from pydantic import BaseModel, Field

from lmforge.eval.generation import chat_exact_match
from lmforge.grow.dus import DUSConfig, run_dus
from lmforge.grow.upcycle import UpcycleConfig, run_upcycle
from lmforge.grow.vocab import GrowVocabConfig, run_grow_vocab
from lmforge.model import load_model
from lmforge.model.flops import param_count
from lmforge.model.io import load_config, save_model
from lmforge.model.loader import load_for_inference
from lmforge.model.source import ModelSource
from lmforge.recipes.kinds import StageContext, stage_kind
from lmforge.report import read_metrics, val_loss_line
from lmforge.sft.data import read_jsonl
from lmforge.sft.finetune import DPOConfig, SFTConfig, run_dpo, run_sft
from lmforge.stats import change, mean, paired_difference, rate
from lmforge.tokens.loader import DataConfig, TokenLoader
from lmforge.train.objectives import causal_lm
from lmforge.train.pretrain import PretrainConfig, run_pretrain
from lmforge.train.trainer import evaluate

T = TypeVar("T", bound=BaseModel)


class StageInterrupted(KeyboardInterrupt):
    """A training stage stopped on SIGTERM/SIGINT after saving a checkpoint; rerun to resume."""


def _curve_summary(run_dir: Path, label: str) -> dict[str, Any]:
    rows = read_metrics(run_dir / "metrics.jsonl")
    vals = [r["val_loss"] for r in rows if "val_loss" in r]
    out: dict[str, Any] = {"metrics_file": str(run_dir / "metrics.jsonl"),
                           "steps": max((r["step"] for r in rows), default=0)}
    if vals:
        out.update(first_val_loss=vals[0], final_val_loss=vals[-1])
        out["headline"] = {f"{label} validation loss (first eval -> last)": val_loss_line(rows)}
    return out


def val_loss(model_dir: str | Path, data_path: str, seq_len: int, batch_size: int = 8,
             batches: int = 8) -> float:
    """Mean validation loss of a model folder on a packed folder's val split."""
    val = TokenLoader(DataConfig(path=data_path), seq_len, batch_size, split="val")
    return evaluate(load_model(model_dir), causal_lm, val.eval_batches(batches),
                    torch.device("cpu"), nullcontext, batches)[0]


@stage_kind("model", ModelSource)
def model(p: ModelSource, ctx: StageContext) -> tuple[str, dict[str, Any]]:
    """A start point: released weights (`path`, e.g. Mistral 7B for SOLAR) or `lmforge model init`."""
    if p.path:
        cfg = p.config()  # a clear error if it is not a model folder
        return p.path, {"params": f"{param_count(cfg):,}", "layers": cfg.num_hidden_layers}
    built = p.build()
    out = save_model(built, ctx.out_dir / "model", created_by=f"lmforge run: {ctx.name}",
                     copy_from=p.tokenizer)
    return str(out), {"params": f"{built.num_parameters():,}", "layers": built.config.num_hidden_layers}


@stage_kind("pretrain", PretrainConfig)
def pretrain(cfg: PretrainConfig, ctx: StageContext) -> tuple[str, dict[str, Any]]:
    """`lmforge pretrain`: from scratch or continued; a killed stage resumes from its checkpoints."""
    result, seen = run_pretrain(cfg, created_by=f"lmforge run: {ctx.name}")
    if result.interrupted:
        raise StageInterrupted(f"{ctx.name} interrupted at step {result.step}")
    shape = load_config(result.model_dir)
    return str(result.model_dir), {**_curve_summary(ctx.out_dir, ctx.name),
                                   "params": param_count(shape), "active_params": param_count(shape, True),
                                   "tokens": result.tokens, "tokens_by_source": str(seen)}


class LossCheck(BaseModel):
    """Report-only: validation loss of the base and of the grown model, right after growth."""
    data: str | None = Field(None, description="packed folder: measure val loss before/after growth")
    seq_len: int = Field(256, gt=1, description="tokens per row of that measurement")


class DUSStage(DUSConfig, LossCheck):
    pass


def _into_model_dir(cfg: T) -> T:
    """The stage's config with `out` = the model folder inside the stage's folder."""
    return cfg.model_copy(update={"out": str(Path(cfg.out) / "model")})


@stage_kind("grow_dus", DUSStage)
def grow_dus(p: DUSStage, ctx: StageContext) -> tuple[str, dict[str, Any]]:
    """`lmforge grow dus` (SOLAR): two copies of the base, m layers dropped at the seam."""
    out = run_dus(_into_model_dir(p))
    before, after = load_config(p.model), load_config(out)
    summary: dict[str, Any] = {"layers": f"{before.num_hidden_layers} -> {after.num_hidden_layers}",
                               "params": f"{param_count(before):,} -> {param_count(after):,}"}
    if p.data:
        base, grown = val_loss(p.model, p.data, p.seq_len), val_loss(out, p.data, p.seq_len)
        summary.update(base_val_loss=base, grown_val_loss=grown)
        summary["headline"] = {"val loss: base -> right after DUS": f"{base:.3f} -> {grown:.3f}"}
    return str(out), summary


@stage_kind("grow_vocab", GrowVocabConfig)
def grow_vocab(p: GrowVocabConfig, ctx: StageContext) -> tuple[str, dict[str, Any]]:
    """`lmforge grow vocab`: new embedding/head rows at the mean of the old ones (Hewitt)."""
    old = load_config(p.model).vocab_size
    out = run_grow_vocab(_into_model_dir(p))
    return str(out), {"vocab_size": f"{old} -> {load_config(out).vocab_size}"}


@stage_kind("grow_upcycle", UpcycleConfig)
def grow_upcycle(p: UpcycleConfig, ctx: StageContext) -> tuple[str, dict[str, Any]]:
    """`lmforge grow upcycle`: every MLP copied into E experts (Mixtral layout)."""
    out = run_upcycle(_into_model_dir(p))
    return str(out), {"experts": p.experts, "top_k": p.top_k}


class SkillTest(BaseModel):
    """Report-only: skill records (messages + answer) scored before and after tuning."""
    skill_test: str | None = Field(None, description="skill records (messages + answer) scored before/after")


class SFTStage(SFTConfig, SkillTest):
    pass


class DPOStage(DPOConfig, SkillTest):
    pass


def skill_scores(model, tok, test_file: str) -> dict[str, Any]:
    """Exact match on skill records, overall and per language, with a few examples and each record's hit."""
    records = list(read_jsonl(test_file))
    overall = chat_exact_match(model, tok, records)
    scores: dict[str, Any] = {"accuracy": overall["exact_match"], "n": overall["n"], "examples": overall["examples"],
                              "hits": overall["hits"]}
    for lang in sorted({r.get("lang") for r in records} - {None}):
        part = [r for r in records if r.get("lang") == lang]
        scores[f"accuracy_{lang}"] = chat_exact_match(model, tok, part)["exact_match"]
    return scores


def model_skill_scores(model_dir: str | Path, test_file: str) -> dict[str, Any]:
    loaded = load_for_inference(model_dir)
    return skill_scores(loaded.model, loaded.tokenizer, test_file)


def skill_change(before: dict[str, Any], after: dict[str, Any], name: str) -> dict[str, Any]:
    """Headline rows of a skill test before -> after a stage (its `hits` taken out of both): the two
    exact matches with their intervals, and the change paired by question (the same questions both
    times, so a paired comparison sees what two overlapping intervals hide)."""
    diffs = [float(a) - float(b) for a, b in zip(after.pop("hits"), before.pop("hits"))]
    return {f"skill exact match before -> after {name}": change(rate(before["accuracy"], before["n"]),
                                                                  rate(after["accuracy"], after["n"])),
            f"skill exact match change of {name}, paired by question": paired_difference(diffs, unit="questions")}


def _tune(p: SFTStage | DPOStage, ctx: StageContext, verb: str) -> tuple[str, dict[str, Any]]:
    before = model_skill_scores(p.model, p.skill_test) if p.skill_test else None
    result = run_sft(p) if verb == "sft" else run_dpo(p)
    if result.interrupted:
        raise StageInterrupted(f"{ctx.name} interrupted at step {result.step}")
    rows = read_metrics(ctx.out_dir / "metrics.jsonl")
    summary: dict[str, Any] = {"metrics_file": str(ctx.out_dir / "metrics.jsonl"),
                               "final_loss": result.loss, "steps": result.step}
    headline: dict[str, Any] = {}
    if verb == "dpo":
        last = [r.get("rewards/accuracy", 0.0) for r in rows[-10:]]
        acc = sum(last) / max(1, len(last))
        summary["reward_accuracy_last10"] = acc
        headline["DPO reward accuracy (last 10 steps)"] = mean(last, unit="steps") if last else round(acc, 3)
    if before is not None:
        after = model_skill_scores(result.model_dir, p.skill_test)
        summary["tables"] = {"skill test examples after": after.pop("examples")}
        before.pop("examples")
        headline.update(skill_change(before, after, verb.upper()))
        summary.update({f"skill_{k}_before": v for k, v in before.items()})
        summary.update({f"skill_{k}_after": v for k, v in after.items()})
    summary["headline"] = headline
    return str(result.model_dir), summary


@stage_kind("sft", SFTStage)
def sft(p: SFTStage, ctx: StageContext) -> tuple[str, dict[str, Any]]:
    """`lmforge sft`: loss on assistant tokens only; the skill test before and after."""
    return _tune(p, ctx, "sft")


@stage_kind("dpo", DPOStage)
def dpo(p: DPOStage, ctx: StageContext) -> tuple[str, dict[str, Any]]:
    """`lmforge dpo`: preference pairs against the frozen start model."""
    return _tune(p, ctx, "dpo")
