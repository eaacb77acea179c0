"""Recipe stages that measure and ship: entropy selection, evaluation, GGUF export, scaling plans."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import Field

from lmforge.recipes.kinds import StageContext, StageParams, stage_kind


class SelectParams(StageParams):
    model: str = Field(description="base model whose entropy scores the samples")
    data: str = Field(description="instruction jsonl")
    heldout: str = Field(description="pretraining corpus folder/files; its validation documents are used")
    val_fraction: float = Field(0.02, gt=0, lt=1, description="the pack stage's val_fraction")
    low: float = 1.0
    high: float = 1.5
    clusters: int = Field(5, gt=0)


@stage_kind("select_entropy", SelectParams)
def select_entropy(p: SelectParams, ctx: StageContext) -> tuple[str, dict[str, Any]]:
    """`lmforge select entropy` (MindLLM): keep samples in a band above the base entropy."""
    from lmforge.data.pack import is_val
    from lmforge.data.read import read_documents
    from lmforge.select.entropy import select_by_entropy

    heldout = [d for d in read_documents([p.heldout]) if is_val(d, p.val_fraction)]
    if not heldout:
        raise ValueError(f"select: no validation documents in {p.heldout} at val_fraction {p.val_fraction}")
    out = ctx.out_dir / "selection"
    r = select_by_entropy(p.model, p.data, heldout, out, p.low, p.high, p.clusters)
    return str(out / "selected.jsonl"), {
        "base_entropy": r["base_entropy"], "selected": r["selected"], "scored": r["scored"],
        "headline": {"entropy selection kept": f"{r['selected']} of {r['scored']}"},
        "tables": {"entropy clusters": r["clusters"]}, "images": [str(out / "histogram.png")]}


class EvalParams(StageParams):
    models: dict[str, str] = Field(description="label -> model folder; all scored on the same tasks")
    tasks: dict[str, str] = Field(default_factory=dict,
                                  description="MC task name (ceval, cmmlu, mmlu, jsonl, ...) -> data folder")
    shots: int = Field(0, ge=0)
    limit: int | None = Field(None, gt=0)
    chat: bool = Field(False, description="also MC answered in free text (models with a chat template)")
    skill_test: str | None = Field(None, description="skill records scored by greedy generation")
    perplexity: list[str] = Field(default_factory=list, description="text files for bits-per-byte")


@stage_kind("eval", EvalParams)
def evaluate(p: EvalParams, ctx: StageContext) -> tuple[str, dict[str, Any]]:
    """`lmforge eval`: MC accuracy (lm-eval style), skill exact match, bits-per-byte, per model."""
    from lmforge.eval.runner import evaluate as evaluate_mc
    from lmforge.recipes.stages.training import skill_scores
    from lmforge.serve.text import load_for_inference

    rows = []
    for label, model_dir in p.models.items():
        model, tok = load_for_inference(model_dir)  # once per model, for every measure
        row: dict[str, Any] = {"model": label}
        if p.tasks:
            results = evaluate_mc(model_dir, {k: Path(v) for k, v in p.tasks.items()}, p.shots,
                                  limit=p.limit, out=ctx.out_dir / label, model=model, progress=False)
            for task, r in results.items():
                row[f"{task} acc"] = round(r["acc"], 3)
                row[f"{task} acc_norm"] = round(r["acc_norm"], 3)
            if p.chat:
                row.update(_chat_mc(model, tok, p))
        if p.skill_test:
            row["skill exact match"] = round(skill_scores(model, tok, p.skill_test)["accuracy"], 3)
        if p.perplexity:
            row["bits/byte"] = round(_bits_per_byte(model, tok, p.perplexity), 4)
        rows.append(row)
    return str(ctx.out_dir), {"tables": {"evaluation": rows}}


def _chat_mc(model, tok, p: EvalParams) -> dict[str, Any]:
    from lmforge.eval.generation import evaluate_mc_chat
    from lmforge.eval.task import load_task

    out = {}
    for task, folder in p.tasks.items():
        r = evaluate_mc_chat(model, tok, load_task(task, folder), p.shots, p.limit)
        out[f"{task} chat acc"] = round(r["acc"], 3)
        out[f"{task} chat unparsed"] = round(r["unparsed"], 3)
    return out


def _bits_per_byte(model, tok, files: list[str]) -> float:
    from lmforge.data.read import read_documents
    from lmforge.eval.perplexity import perplexity

    docs = list(read_documents(files))[:64]
    return perplexity(model.eval(), tok, docs)["bits_per_byte"]


class CompareParams(StageParams):
    stages: list[str] = Field(min_length=2, description="earlier stages to set side by side")
    chain: bool = Field(False, description="plot them one after another (a timeline, e.g. base -> "
                                           "grow -> continue) instead of from step 0 each")
    title: str = "validation loss"


@stage_kind("compare", CompareParams)
def compare(p: CompareParams, ctx: StageContext) -> tuple[str, dict[str, Any]]:
    """Validation loss against (active) parameters of earlier stages: a table and one plot."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from lmforge.report import read_metrics

    missing = [s for s in p.stages if s not in ctx.summaries]
    if missing:
        raise ValueError(f"compare: {missing} are not earlier stages (earlier: {list(ctx.summaries)})")
    rows, offset = [], 0
    fig, ax = plt.subplots(figsize=(6, 3.5))
    for name in p.stages:
        s = ctx.summaries[name]
        if "grown_val_loss" in s:  # a growth stage: the loss right after growing, at this step
            ax.plot([offset], [s["grown_val_loss"]], "x", markersize=10, label=f"{name} (right after)")
        if s.get("metrics_file"):
            curve = [(r["step"] + offset, r["val_loss"]) for r in read_metrics(s["metrics_file"]) if "val_loss" in r]
            if curve:
                ax.plot(*zip(*curve), "o-", label=name)
            rows.append({"stage": name, "params": s.get("params"), "active params": s.get("active_params"),
                         "steps": s.get("steps"), "first val loss": s.get("first_val_loss"),
                         "final val loss": s.get("final_val_loss")})
            offset += s.get("steps", 0) if p.chain else 0
    ax.set_xlabel("step" + (" (stages in sequence)" if p.chain else ""))
    ax.set_ylabel("validation loss (nats/token)")
    ax.set_title(p.title)
    ax.legend()
    fig.tight_layout()
    png = ctx.out_dir / "compare.png"
    fig.savefig(png, dpi=100)
    plt.close(fig)
    done = [r for r in rows if r["final val loss"] is not None]
    summary: dict[str, Any] = {"tables": {"validation loss vs parameters": rows}, "images": [str(png)]}
    if done and not p.chain:
        summary["headline"] = {"lowest final val loss at equal steps":
                               min(done, key=lambda r: r["final val loss"])["stage"]}
    return str(png), summary


class ExportParams(StageParams):
    model: str
    type: str = Field("f16", pattern="^(f32|f16|q8_0)$")


@stage_kind("export_gguf", ExportParams)
def export(p: ExportParams, ctx: StageContext) -> tuple[str, dict[str, Any]]:
    """`lmforge export gguf`: a file llama.cpp runs."""
    from lmforge.export.gguf import export_gguf

    out = export_gguf(p.model, ctx.out_dir / f"model-{p.type}.gguf", p.type)
    size = out.stat().st_size
    return str(out), {"bytes": size, "headline": {f"GGUF ({p.type}) written": f"{out.name}, {size / 1e6:.1f} MB"}}


class PlanParams(StageParams):
    flops: float | None = Field(None, gt=0, description="training FLOPs budget")
    gpu: str | None = Field(None, description="h100, h200, a100, l4, 4090")
    count: int = Field(1, gt=0)
    days: float | None = Field(None, gt=0)
    mfu: float = Field(0.4, gt=0, le=1)
    fit: str | None = Field(None, description="fit JSON (default: Besiroglu et al. 2024 law)")
    preset: str | None = Field(None, description="also predict this preset's loss at the budget")


@stage_kind("scaling_plan", PlanParams)
def scaling_plan(p: PlanParams, ctx: StageContext) -> tuple[str, dict[str, Any]]:
    """`lmforge scaling plan`: compute-optimal N and D for a budget, with intervals."""
    import json

    from lmforge.model.flops import human
    from lmforge.scaling.fit import ScalingLaw, default_law
    from lmforge.scaling.plan import gpu_flops, plan, preset_size

    if p.flops is None and not (p.gpu and p.days):
        raise ValueError("scaling_plan: give `flops`, or `gpu`, `count`, `days` (and `mfu`)")
    flops = p.flops or gpu_flops(p.gpu, p.count, p.days * 24, p.mfu)
    law = ScalingLaw.load(p.fit) if p.fit else default_law()
    r = plan(law, flops)
    summary: dict[str, Any] = {
        "budget_flops": f"{flops:.3e}", "law": law.source,
        "headline": {"compute-optimal N*, D*": f"{human(r.n_opt)} params, {human(r.d_opt)} tokens",
                     "predicted loss at (N*, D*)": f"{r.loss:.3f} [{r.loss_interval[0]:.3f}, "
                                                   f"{r.loss_interval[1]:.3f}]"}}
    if p.preset:
        n, fpt = preset_size(p.preset)
        d = flops / fpt
        summary["headline"][f"{p.preset}: {human(n)} params on {human(d)} tokens"] = \
            f"predicted loss {float(law.predict(n, d)):.3f}"
    out = ctx.out_dir / "plan.json"
    out.write_text(json.dumps(summary, indent=2, default=str))
    return str(out), summary
