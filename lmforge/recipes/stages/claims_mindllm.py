"""Recipe stages for MindLLM's claims in miniature: an instruction pool with junk, a random subset
the size of the entropy selection (its control), the three SFT arms scored side by side with 95%
intervals, and Chinchilla approach 2 (IsoFLOP profiles) tested on a held-out run."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import Field

from lmforge.eval.multiple_choice import MCEvalConfig, run_mc_eval
from lmforge.model.flops import human
from lmforge.model.loader import load_for_inference
from lmforge.recipes.kinds import StageContext, StageParams, stage_kind
from lmforge.recipes.stages.training import skill_scores
from lmforge.report import save_figure
from lmforge.scaling.isoflop_run import IsoFLOPConfig, run_isoflop
from lmforge.select.pool import JUNK, NoisyPoolConfig, SubsetConfig, part_counts, run_noisy_pool, run_subset
from lmforge.sft.data import read_jsonl
from lmforge.stats import change, proportion, rate


@stage_kind("noisy_pool", NoisyPoolConfig)
def noisy_pool(p: NoisyPoolConfig, ctx: StageContext) -> tuple[str, dict[str, Any]]:
    """A clean SFT file plus junk made from its skill records (shuffled, truncated, wrong answers)."""
    p = p.model_copy(update={"out": str(Path(p.out) / "pool.jsonl")})
    parts = run_noisy_pool(p)
    return p.out, {"records": sum(parts.values()),
                   "tables": {"instruction pool": [{"part": k, "records": v} for k, v in parts.items()]}}


@stage_kind("random_subset", SubsetConfig)
def random_subset(p: SubsetConfig, ctx: StageContext) -> tuple[str, dict[str, Any]]:
    """A uniform random subset of the pool as large as `like` (the control of a selection)."""
    p = p.model_copy(update={"out": str(Path(p.out) / "subset.jsonl")})
    return p.out, {"records": run_subset(p), "parts": part_counts(p.out)}


class ArmsParams(StageParams):
    models: dict[str, str] = Field(description="label -> model folder (the SFT arms, and a reference)")
    data: dict[str, str] = Field(default_factory=dict, description="label -> the arm's training jsonl (its make-up)")
    skill_test: str = Field(description="held-out skill records (messages + answer): greedy exact match")
    mc: str = Field(description="C-Eval-format folder (mc_data stage): multiple-choice accuracy")
    treatment: str = Field(description="the label whose gain is claimed (e.g. the entropy band)")
    controls: list[str] = Field(description="labels it is compared with (random subset, all data)")
    reference: str | None = Field(None, description="the start model's label: each arm's skill change from it too")


def score_model(model_dir: str, skill_test: str, mc: str, out: Path) -> dict[str, dict[str, Any]]:
    """Skill exact match and MC accuracy of one model, each with n and its Wilson 95% interval."""
    loaded = load_for_inference(model_dir)
    n_skill = sum(1 for _ in read_jsonl(skill_test))
    skill = skill_scores(loaded.model, loaded.tokenizer, skill_test)["accuracy"]
    cfg = MCEvalConfig(model=model_dir, tasks={"ceval": mc}, out=str(out), progress=False)
    r = run_mc_eval(cfg, loaded).results["ceval"]
    return {"skill": rate(skill, n_skill, unit="held-out questions"),
            "mc": rate(r["acc"], r["n"], chance=r.get("chance"), unit="questions")}


def _cell(score: dict[str, Any]) -> str:
    lo, hi = score["ci95"]
    return f"{score['value']:.3f} [{lo:.3f}, {hi:.3f}]"


def _row(label: str, scores: dict[str, dict[str, Any]], data: str | None) -> dict[str, Any]:
    parts = part_counts(data) if data else {}
    junk = sum(parts.get(k, 0) for k in JUNK)
    return {"model": label, "SFT records": sum(parts.values()) if data else "",
            "skill / other / junk": f"{parts.get('skill', 0)} / {parts.get('other', 0)} / {junk}" if data else "",
            "skill exact match [95%]": _cell(scores["skill"]), "n (skill)": scores["skill"]["n"],
            "MC acc [95%]": _cell(scores["mc"]), "n (MC)": scores["mc"]["n"]}


@stage_kind("sft_arms", ArmsParams)
def sft_arms(p: ArmsParams, ctx: StageContext) -> tuple[str, dict[str, Any]]:
    """Every model scored on the same held-out skill test and MC questions; the treatment against
    each control is a gain only when the 95% intervals do not overlap."""
    scores = {label: score_model(d, p.skill_test, p.mc, ctx.out_dir / "mc" / label.replace(" ", "_"))
              for label, d in p.models.items()}
    headline: dict[str, Any] = {}
    for control in p.controls:
        for key, what in (("skill", "skill exact match"), ("mc", "MC accuracy")):
            headline[f"{what}: {control} -> {p.treatment}"] = change(scores[control][key], scores[p.treatment][key])
    for arm in [a for a in scores if p.reference and a != p.reference]:  # what each arm learned at all
        headline[f"skill exact match: {p.reference} -> {arm}"] = change(scores[p.reference]["skill"],
                                                                          scores[arm]["skill"])
    png = plot_arms(scores, ctx.out_dir / "arms.png")
    rows = [_row(label, s, p.data.get(label)) for label, s in scores.items()]
    return str(png), {"headline": headline, "scores": scores, "images": [str(png)],
                      "tables": {"SFT arms on the same budget (Wilson 95% intervals)": rows}}


def plot_arms(scores: dict[str, dict[str, dict[str, Any]]], out: Path) -> Path:
    """Bars with 95% error bars: skill exact match and MC accuracy per model, MC's chance line."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    labels = list(scores)
    for ax, key, title in zip(axes, ("skill", "mc"), ("held-out skill exact match", "C-Eval-format MC accuracy")):
        vals = [scores[m][key]["value"] for m in labels]
        err = [[v - scores[m][key]["ci95"][0] for m, v in zip(labels, vals)],
               [scores[m][key]["ci95"][1] - v for m, v in zip(labels, vals)]]
        ax.bar(range(len(labels)), vals, yerr=err, capsize=5, color="tab:blue", alpha=0.8)
        chance = scores[labels[0]][key].get("chance")
        if chance is not None:
            ax.axhline(chance, color="gray", linestyle="--", label=f"chance ({chance:g})")
            ax.legend(fontsize=8)
        ax.set_xticks(range(len(labels)), labels, rotation=15, fontsize=8)
        ax.set(ylim=(0, 1), ylabel="accuracy", title=f"{title} (n={scores[labels[0]][key]['n']}, 95% Wilson)")
    return save_figure(fig, out)


@stage_kind("scaling_isoflop", IsoFLOPConfig)
def scaling_isoflop(p: IsoFLOPConfig, ctx: StageContext) -> tuple[str, dict[str, Any]]:
    """`lmforge scaling` approach 2: IsoFLOP profiles, N_opt(C) and L_opt(C), a held-out run predicted."""
    r = run_isoflop(p)
    h, fit = r.held_out, r.fit
    ci = {k: f" [{lo:.3f}, {hi:.3f}]" for k, (lo, hi) in fit.ci.items()}
    rows = [{"FLOPs": f"{q.flops:.3g}", "sizes": len(q.N), "N_opt": human(q.n_opt), "L_opt": round(q.l_opt, 4),
             "curvature k": round(q.k, 4), "well posed": q.problem() is None} for q in fit.profiles]
    headline = {
        "IsoFLOP fit (Chinchilla approach 2)": f"N_opt ∝ C^a, a = {fit.a:.3f}{ci.get('a', '')}; "
                                               f"L_opt ∝ C^-b, b = {fit.b:.4f}{ci.get('b', '')} (95%)",
        "every profile a minimum inside its sizes": "yes" if not fit.problems else "; ".join(fit.problems)}
    if h is not None:  # none when the profiles come from a results file (`results`)
        headline[f"held-out run (depth {h.depth}, {human(h.N)} params, {h.flops:.3g} FLOPs): predicted -> "
                 "observed"] = (f"{h.predicted:.4f} [{h.interval[0]:.4f}, {h.interval[1]:.4f}] -> {h.observed:.4f} "
                                f"(error {100 * h.error:+.2f}%; naive guess {h.naive:.4f}, "
                                f"error {100 * h.naive_error:+.2f}%)")
    elif r.prediction is not None:
        pr = r.prediction
        headline[f"at {pr.flops:.3g} FLOPs: N_opt, L_opt"] = (
            f"{human(pr.n_opt)} [{human(pr.n_interval[0])}, {human(pr.n_interval[1])}], "
            f"{pr.l_opt:.4f} [{pr.l_interval[0]:.4f}, {pr.l_interval[1]:.4f}]")
    return str(r.json), {"headline": headline, "images": [str(r.plot)], "held_out": vars(h) if h else None,
                         "law": fit.law(), "problems": fit.problems,
                         "tables": {"IsoFLOP profiles": rows}}
