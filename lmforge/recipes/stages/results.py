"""Recipe stages that measure and ship: entropy selection, evaluation, GGUF export, scaling plans."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field

from lmforge.errors import UserError
from lmforge.eval.multiple_choice import MCEvalConfig, MCSettings, run_mc_eval
from lmforge.eval.perplexity import PerplexityConfig, run_perplexity
from lmforge.export.gguf import GGUFConfig, run_export_gguf
from lmforge.model.flops import human
from lmforge.model.loader import load_for_inference
from lmforge.recipes.kinds import StageContext, StageParams, stage_kind
from lmforge.recipes.stages.training import skill_scores
from lmforge.report import mark_warmup, read_metrics, save_figure, warmup_end
from lmforge.scaling.plan import PlanConfig, run_plan
from lmforge.stats import interval_text, rate


class EvalExtras(BaseModel):
    """Report-only: the models compared side by side, and measures beyond multiple choice."""
    models: dict[str, str] = Field(description="label -> model folder; all scored on the same settings")
    skill_test: str | None = Field(None, description="skill records (messages + answer) scored by greedy generation")
    perplexity: list[str] = Field(default_factory=list, description="text files: bits per byte (first 64 documents)")
    progress: bool = Field(False, description="progress bars (off: a recipe's log stays readable)")


class EvalStage(EvalExtras, MCSettings):
    """`lmforge eval mc`'s settings (every field but `model`) for each of `models`, plus extras."""


def mc_config(p: EvalStage, model_dir: str, out: Path) -> MCEvalConfig:
    """The `lmforge eval mc` config this stage runs for one model."""
    settings = p.model_dump(include=set(MCSettings.model_fields))
    return MCEvalConfig.model_validate({**settings, "model": model_dir, "out": str(out)})


@stage_kind("eval", EvalStage)
def eval_models(p: EvalStage, ctx: StageContext) -> tuple[str, dict[str, Any]]:
    """`lmforge eval`: MC accuracy (lm-eval style), skill exact match, bits-per-byte, per model;
    each accuracy with its n and Wilson 95% interval, MC also against its chance level."""
    rows, headline, skill_n = [], {}, None
    for label, model_dir in p.models.items():
        loaded = load_for_inference(model_dir, p.device, p.dtype)  # once per model, for every measure
        row: dict[str, Any] = {"model": label}
        if p.tasks:
            results = run_mc_eval(mc_config(p, model_dir, ctx.out_dir / label), loaded).results
            row.update(_mc_columns(results))
            headline.update({f"{name} ({label})": score for name, score in mc_scores(results).items()})
        if p.skill_test:
            scores = skill_scores(loaded.model, loaded.tokenizer, p.skill_test)
            row["skill exact match"] = round(scores["accuracy"], 3)
            if "n" in scores:
                skill_n = scores["n"]
                row["skill exact match 95% CI"] = interval_text(rate(scores["accuracy"], skill_n))
        if p.perplexity:
            cfg = PerplexityConfig(model=model_dir, files=p.perplexity, limit=64, device=p.device, dtype=p.dtype)
            ppl = run_perplexity(cfg, loaded).results["perplexity"]
            row["bits/byte"] = round(ppl["bits_per_byte"], 4)
            row["bits/byte 95% CI"] = "[{:.4f}, {:.4f}]".format(*ppl["bits_per_byte_ci95"])
            row["documents"] = ppl["documents"]
        rows.append(row)
    note = _eval_note(headline, skill_n, bool(p.perplexity))
    return str(ctx.out_dir), {"tables": {"evaluation": rows}, "headline": headline,
                              "notes": [note] if note else []}


def mc_scores(results: dict[str, dict]) -> dict[str, dict[str, Any]]:
    """Each task's accuracy (and free-text accuracy) as a score: n questions, Wilson 95% interval,
    chance = the mean over questions of 1/number of choices."""
    out = {}
    for task, r in results.items():
        out[f"{task} acc"] = rate(r["acc"], r["n"], chance=r["chance"])
        if "chat" in r:
            chat = rate(r["chat"]["acc"], r["chat"]["n"], chance=r["chance"])
            out[f"{task} chat acc"] = {**chat, "note": f"{r['chat']['unparsed']:.0%} of replies name no option"}
    return out


def _mc_columns(results: dict[str, dict]) -> dict[str, Any]:
    row: dict[str, Any] = {}
    for task, r in results.items():
        row[f"{task} acc"] = round(r["acc"], 3)
        row[f"{task} acc 95% CI"] = interval_text(rate(r["acc"], r["n"]))
        row[f"{task} acc_norm"] = round(r["acc_norm"], 3)
    for task, r in results.items():
        if "chat" in r:
            row[f"{task} chat acc"] = round(r["chat"]["acc"], 3)
            row[f"{task} chat unparsed"] = round(r["chat"]["unparsed"], 3)
    return row


def _eval_note(headline: dict[str, dict[str, Any]], skill_n: int | None, perplexity: bool = False) -> str:
    """How to read the evaluation table: each measure's n, chance level and interval."""
    seen = {label.rsplit(" (", 1)[0]: v for label, v in headline.items()}
    parts = [f"{m}: n={v['n']} questions, chance {v['chance']:.3g}" for m, v in seen.items()]
    if skill_n:
        parts.append(f"skill exact match: n={skill_n} questions, no chance level (free text)")
    text = ("Accuracies with Wilson 95% intervals (" + "; ".join(parts) + "). A score whose interval "
            "holds its chance level is no better than guessing.") if parts else ""
    if perplexity:
        text += (" " if text else "") + ("bits/byte: over the first 64 documents (n in `documents`), its 95% "
                                          "interval a percentile bootstrap over those documents.")
    return text


class CompareParams(StageParams):
    stages: list[str] = Field(min_length=2, description="earlier stages to set side by side")
    chain: bool = Field(False, description="plot them one after another (a timeline, e.g. base -> "
                                           "grow -> continue) instead of from step 0 each")
    title: str = "validation loss"


@stage_kind("compare", CompareParams)
def compare(p: CompareParams, ctx: StageContext) -> tuple[str, dict[str, Any]]:
    """Validation loss against (active) parameters of earlier stages: a table and one plot that
    marks each growth point and each stage's learning-rate warm-up, with a note explaining them."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    missing = [s for s in p.stages if s not in ctx.summaries]
    if missing:
        raise UserError(f"compare: {missing} are not earlier stages (earlier: {list(ctx.summaries)})")
    fig, ax = plt.subplots(figsize=(6, 3.5))
    rows, notes = _draw_stages(ax, p, ctx.summaries)
    ax.set_xlabel("training step" + (" (stages in sequence)" if p.chain else " (each stage from 0)"))
    ax.set_ylabel("validation loss (nats/token)")
    ax.set_title(p.title)
    ax.legend(fontsize="small")
    png = save_figure(fig, ctx.out_dir / "compare.png")
    done = [r for r in rows if r["final val loss"] is not None]
    summary: dict[str, Any] = {"tables": {"validation loss vs parameters": rows}, "images": [str(png)],
                               "notes": notes}
    if done and not p.chain:
        summary["headline"] = {"lowest final val loss at equal steps":
                               min(done, key=lambda r: r["final val loss"])["stage"]}
    return str(png), summary


def _draw_stages(ax, p: CompareParams, summaries: dict[str, dict[str, Any]]) -> tuple[list[dict], list[str]]:
    """Each stage's validation curve (in sequence when chained), growth points as a line and an x,
    warm-ups shaded; the table rows and the notes that explain the marks."""
    rows: list[dict[str, Any]] = []
    notes: list[str] = []
    offset, grown, last_lr = 0, None, None
    for name in p.stages:
        s = summaries[name]
        if "grown_val_loss" in s:  # a growth stage: the loss right after growing, at this step
            ax.axvline(offset, color="grey", linestyle=":", label=f"{name} (growth)" if p.chain else None)
            ax.plot([offset], [s["grown_val_loss"]], "x", markersize=10, label=f"{name} (right after)")
            grown = (name, s["grown_val_loss"])
        if not s.get("metrics_file"):
            continue
        metrics = read_metrics(s["metrics_file"])
        curve = [(r["step"] + offset, r["val_loss"]) for r in metrics if "val_loss" in r]
        if curve:
            ax.plot(*zip(*curve), "o-", label=name)
        if p.chain:
            mark_warmup(ax, metrics, offset, label=f"{name} lr warm-up")
            notes += _warmup_note(name, metrics, curve, grown, offset, last_lr)
        grown, last_lr = None, next((r["lr"] for r in reversed(metrics) if "lr" in r), None)
        rows.append({"stage": name, "params": s.get("params"), "active params": s.get("active_params"),
                     "steps": s.get("steps"), "first val loss": s.get("first_val_loss"),
                     "final val loss": s.get("final_val_loss"), "final 95% CI": _final_interval(metrics)})
        offset += s.get("steps", 0) if p.chain else 0
    return rows, notes


def _final_interval(metrics: list[dict]) -> str:
    """The last evaluation's 95% interval and n, as the trainer logs them ("" for older metrics files)."""
    last = next((r for r in reversed(metrics) if "val_loss" in r), {})
    if "val_loss_ci95_lo" not in last:
        return ""
    return (f"[{last['val_loss_ci95_lo']:.3f}, {last['val_loss_ci95_hi']:.3f}] (t over {last['val_batches']} "
            f"batches, {last['val_tokens']} tokens)")


def _warmup_note(name: str, metrics: list[dict], curve: list[tuple], grown: tuple | None,
                 offset: int, last_lr: float | None) -> list[str]:
    """For a stage after the first: its warm-up, and why its first evaluation after growth can
    sit above the loss right after growth."""
    end = warmup_end(metrics)
    if end is None or last_lr is None:
        return []
    peak = max(r["lr"] for r in metrics if "lr" in r)
    text = (f"Shaded: {name}'s learning-rate warm-up (steps {offset + 1}-{offset + end}, up to {peak:.3g}; "
            f"the stage before ended at {last_lr:.3g}): a new stage restarts its schedule.")
    if grown and curve and curve[0][1] > grown[1]:
        final = curve[-1][1]
        text += (f" {name}'s first evaluation ({curve[0][1]:.3f} at step {curve[0][0]}) is above the loss "
                 f"right after {grown[0]} ({grown[1]:.3f}): the rising learning rate first disturbs the "
                 "grown model; " + (f"by its last evaluation it is below that ({final:.3f})." if final < grown[1]
                                    else f"by its last evaluation ({final:.3f}) it has not yet recovered."))
    return [text]


@stage_kind("export_gguf", GGUFConfig)
def export(p: GGUFConfig, ctx: StageContext) -> tuple[str, dict[str, Any]]:
    """`lmforge export gguf`: a file llama.cpp runs."""
    out = run_export_gguf(p.model_copy(update={"out": str(Path(p.out) / f"model-{p.type}.gguf")}))
    size = out.stat().st_size
    return str(out), {"bytes": size, "headline": {f"GGUF ({p.type}) written": f"{out.name}, {size / 1e6:.1f} MB"}}


@stage_kind("scaling_plan", PlanConfig)
def scaling_plan(p: PlanConfig, ctx: StageContext) -> tuple[str, dict[str, Any]]:
    """`lmforge scaling plan`: compute-optimal N and D for a budget, with intervals."""
    r = run_plan(p)
    lo, hi = r.plan.loss_interval
    summary: dict[str, Any] = {
        "budget_flops": f"{r.plan.flops:.3e}", "law": r.law.source,
        "headline": {"compute-optimal N*, D*": f"{human(r.plan.n_opt)} params, {human(r.plan.d_opt)} tokens",
                     "predicted loss at (N*, D*)": f"{r.plan.loss:.3f} " + (
                         f"[{lo:.3f}, {hi:.3f}] ({p.level:.0%} interval over the law's bootstrap refits)"
                         if hi > lo else "(no interval: the law has no bootstrap refits)")}}
    if r.at is not None:
        summary["headline"][f"{r.at.label}: {human(r.at.n)} params on {human(r.at.d)} tokens"] = \
            f"predicted loss {r.at.loss:.3f}"
    out = ctx.out_dir / "plan.json"
    out.write_text(json.dumps(summary, indent=2, default=str))
    return str(out), summary
