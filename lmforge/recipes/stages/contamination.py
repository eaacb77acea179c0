"""Recipe stages of the contamination experiment (Steel-LLM, issue 20): `plant` writes a corpus
with a share of a benchmark's questions leaked into it; `contamination_claim` scores the models
trained with and without them on the leaked and the unseen questions, and checks the n-gram
detector's flags against which questions really leaked. Scores carry n and a 95% Wilson interval."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import Field

from lmforge.eval.contamination import contamination, packed_documents
from lmforge.eval.leak import PlantConfig, detector_counts, read_leaked, run_plant
from lmforge.eval.runner import evaluate_mc
from lmforge.eval.task import MCTask
from lmforge.eval.tasks import load_task
from lmforge.model.loader import load_for_inference
from lmforge.recipes.kinds import StageContext, StageParams, stage_kind
from lmforge.report import save_figure
from lmforge.stats import change, proportion


@stage_kind("plant", PlantConfig)
def plant(p: PlantConfig, ctx: StageContext) -> tuple[str, dict[str, Any]]:
    """A copy of the corpus with pages of leaked benchmark questions (prompt + answer letter):
    "@stage/corpus", and "@stage/leaked.json" (which questions leaked)."""
    r = run_plant(p)
    return p.out, {
        "leaked": len(r.leaked), "questions": r.questions, "pages": r.pages,
        "headline": {"questions planted in the corpus": f"{len(r.leaked)} of {r.questions} "
                     f"({p.copies} copies each, {r.pages} pages in source {r.source!r})"}}


class ContaminationClaim(StageParams):
    models: dict[str, str] = Field(min_length=1, description="label -> model folder (e.g. clean, contaminated)")
    tasks: str = Field(description="the benchmark folder")
    task: str = Field("ceval", description="its format")
    leaked: str = Field(description="leaked.json written by the plant stage")
    corpora: dict[str, str] = Field(min_length=1, description="label -> packed folder the detector reads "
                                                              "(its train split: what a model trained on)")
    tokenizer: str = Field(description="tokenizer folder that decodes the packed folders")
    ngram: int = Field(13, gt=0, description="detector n-gram length (words / Chinese characters)")
    threshold: float = Field(0.0, ge=0, lt=1, description="flag a question when more than this share of "
                                                          "its n-grams is in the corpus")
    chance: float = Field(0.25, gt=0, lt=1, description="accuracy of guessing (4 choices: 0.25)")


def _accuracy(items: list[dict], chance: float) -> dict[str, Any]:
    return proportion(int(sum(r["acc"] for r in items)), len(items), chance)


def score_rows(p: ContaminationClaim, task: MCTask, leaked: set[str]) -> list[dict[str, Any]]:
    """Per model: accuracy on all, the leaked and the unseen questions (scores with n, a Wilson
    95% interval and the chance level)."""
    rows = []
    for label, folder in p.models.items():
        lm = load_for_inference(folder)
        items = evaluate_mc(lm.model, lm.tokenizer, task, progress=False)["items"]
        hit = [x.where in leaked for x in task.items]
        rows.append({"model": label, "all": _accuracy(items, p.chance),
                     "leaked": _accuracy([r for r, h in zip(items, hit) if h], p.chance),
                     "unseen": _accuracy([r for r, h in zip(items, hit) if not h], p.chance)})
    return rows


def detector_rows(p: ContaminationClaim, task: MCTask, leaked: set[str]) -> list[dict[str, Any]]:
    """Per corpus: which questions the n-gram check flags, against which really leaked."""
    rows = []
    for label, folder in p.corpora.items():
        rep = contamination(task.items, packed_documents(folder, p.tokenizer, ("train",)), p.ngram,
                            p.threshold, progress=False)
        c = detector_counts({r["where"]: r["contaminated"] for r in rep["items"]}, leaked)
        rows.append({"corpus": label, "questions": rep["n"], "leaked": len(leaked), "flagged": c["tp"] + c["fp"],
                     **c, "precision": proportion(c["tp"], c["tp"] + c["fp"], unit="flagged"),
                     "recall": proportion(c["tp"], c["tp"] + c["fn"], unit="leaked")})
    return rows


def plot(scores: list[dict[str, Any]], chance: float, png: Path) -> Path:
    """Accuracy per model on leaked vs unseen questions, with Wilson intervals and the chance line."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 3.5))
    for j, part in enumerate(("leaked", "unseen")):
        xs = [i + 0.35 * j for i in range(len(scores))]
        vals = [(r[part]["value"], *r[part]["ci95"]) for r in scores]
        ax.bar(xs, [v for v, _, _ in vals], width=0.35, label=f"{part} questions (n={scores[0][part]['n']})",
               yerr=[[v - lo for v, lo, _ in vals], [hi - v for v, _, hi in vals]], capsize=4)
    ax.axhline(chance, color="grey", linestyle="--", label=f"chance ({chance:.2f})")
    ax.set_xticks([i + 0.175 for i in range(len(scores))], [r["model"] for r in scores])
    ax.set_xlabel("pretrained model (same steps and seed; corpus without / with the planted questions)", fontsize=8)
    ax.set_ylabel("multiple-choice accuracy")
    ax.set_ylim(0, 1)
    ax.set_title("accuracy on questions leaked into pretraining vs unseen (bars: 95% Wilson)", fontsize=9)
    ax.legend(fontsize=8)
    return save_figure(fig, png)


@stage_kind("contamination_claim", ContaminationClaim)
def contamination_claim(p: ContaminationClaim, ctx: StageContext) -> tuple[str, dict[str, Any]]:
    """The inflated score next to the clean one, and the detector's precision and recall."""
    task, leaked = load_task(p.task, p.tasks), read_leaked(p.leaked)
    scores, detector = score_rows(p, task, leaked), detector_rows(p, task, leaked)
    png = plot(scores, p.chance, ctx.out_dir / "contamination.png")
    by = {r["model"]: r for r in scores}
    headline: dict[str, Any] = {}
    if {"clean", "contaminated"} <= set(by):
        for part in ("leaked", "unseen"):
            headline[f"accuracy on the {part} questions: clean -> contaminated model"] = \
                change(by["clean"][part], by["contaminated"][part])
    for r in detector:
        headline[f"detector precision on the {r['corpus']} corpus ({p.ngram}-grams)"] = (
            r["precision"] if r["flagged"] else "undefined: nothing flagged")
        headline[f"detector recall on the {r['corpus']} corpus ({p.ngram}-grams)"] = r["recall"]
    return str(png), {"tables": {"accuracy by question (n; 95% Wilson; chance level)": scores,
                                 "contamination detector vs the planted truth": detector},
                      "images": [str(png)], "headline": headline}
