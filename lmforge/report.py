"""report.md for a recipe run: a report card of headline numbers, then each stage with plots."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from lmforge.files import atomic_write_text, temp_path  # noqa: E402
from lmforge.stats import change, interval_text, is_change, is_score, moved, n_text, reading, score, show  # noqa: E402
from lmforge.text import read_jsonl  # noqa: E402

HOW_TO_READ = ("Each score: its value, n, a 95% interval (Wilson for a proportion, a bootstrap of the "
               "mean for non-binary values, Student's t over the per-batch losses for a validation "
               "loss) and the chance level where there is one (multiple choice: "
               "1/number of choices). A change is called a gain only when the before and after "
               "intervals do not overlap; a change paired by item (the same questions or prompts "
               "before and after) is a gain when the bootstrap interval of its mean difference is above 0.")


def read_metrics(path: str | Path) -> list[dict[str, Any]]:
    """The rows of a metrics.jsonl; a line a killed run cut short is skipped with a warning."""
    return read_jsonl(path, strict=False)


def plot_loss(metrics_file: str | Path, out_png: Path, title: str) -> Path | None:
    """Training loss per step and validation loss at each evaluation."""
    rows = read_metrics(metrics_file)
    train = [(r["step"], r["loss"]) for r in rows if "loss" in r and "step" in r]
    val = [(r["step"], r["val_loss"]) for r in rows if "val_loss" in r and "step" in r]
    if not train and not val:
        return None
    fig, ax = plt.subplots(figsize=(6, 3.5))
    if train:
        ax.plot(*zip(*train), label="train loss", alpha=0.6)
    if val:
        ax.plot(*zip(*val), "o-", label="validation loss")
    mark_warmup(ax, rows)
    ax.set_xlabel("step")
    ax.set_ylabel("loss (nats/token)")
    ax.set_title(title)
    ax.legend()
    return save_figure(fig, out_png)


def save_figure(fig, path: str | Path, dpi: int = 100, tight: bool = True) -> Path:
    """Lay `fig` out (tight_layout; `tight=False` when the caller did), write it to `path`
    atomically (a temp file beside it, then a rename) and close it. Every lmforge plot ends here."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if tight:
        fig.tight_layout()
    tmp = temp_path(path)
    try:
        fig.savefig(tmp, dpi=dpi, format=path.suffix.lstrip(".") or "png")
        tmp.replace(path)
    finally:
        plt.close(fig)
        tmp.unlink(missing_ok=True)
    return path


def val_loss_line(rows: list[dict[str, Any]]) -> Any:
    """The first -> last validation loss of a metrics file: a change of two scores (n: the
    validation batches and tokens; 95% interval: Student's t over the per-batch mean losses, as
    the trainer logs it) that does not decide the report's banner (any run that trains lowers its
    loss); the plain "first -> last" text for files without intervals; None without evaluations."""
    vals = [r for r in rows if "val_loss" in r]
    if not vals:
        return None
    first, last = vals[0], vals[-1]
    if not all("val_loss_ci95_lo" in r for r in (first, last)):
        return f"{first['val_loss']:.3f} -> {last['val_loss']:.3f}"
    scores = [score(r["val_loss"], r["val_batches"], (r["val_loss_ci95_lo"], r["val_loss_ci95_hi"]), "t",
                    f"batches, {r['val_tokens']} tokens") for r in (first, last)]
    return {**change(*scores, higher_is_better=False), "decides": False}


def warmup_end(rows: list[dict[str, Any]]) -> int | None:
    """The step where the learning rate first reaches its peak (the end of the warm-up), if it rose."""
    lrs = [(r["step"], r["lr"]) for r in rows if "lr" in r and "step" in r]
    if len(lrs) < 2 or lrs[0][1] >= max(lr for _, lr in lrs):
        return None
    peak = max(lr for _, lr in lrs)
    return next(step for step, lr in lrs if lr >= peak)


def mark_warmup(ax, rows: list[dict[str, Any]], offset: int = 0, label: str = "lr warm-up") -> None:
    """Shade the warm-up steps of one stage's metrics rows (shifted by `offset`) on a step axis."""
    end = warmup_end(rows)
    if end is not None:
        start = min(r["step"] for r in rows if "lr" in r)
        ax.axvspan(offset + start - 1, offset + end, color="orange", alpha=0.15, label=label)


def markdown_table(rows: list[dict[str, Any]]) -> str:
    if not rows:
        return ""
    cols = list(dict.fromkeys(k for r in rows for k in r))
    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    for r in rows:
        lines.append("| " + " | ".join(_fmt(r.get(c, "")) for c in cols) + " |")
    return "\n".join(lines)


def _fmt(v: Any) -> str:
    if is_score(v) or is_change(v):
        return show(v)
    if isinstance(v, float):
        return f"{v:.4g}"
    return str(v)


def card_row(stage: str, label: str, value: Any) -> dict[str, Any]:
    """One report-card row: a score or a change gets its n, interval, chance level and reading."""
    row: dict[str, Any] = {"stage": stage, "measure": label}
    if is_change(value):
        before, after = value["before"], value["after"]
        row.update(value=f"{before['value']:.3f} -> {after['value']:.3f}", n=n_text(after),
                   **{"95% interval": f"{interval_text(before)} -> {interval_text(after)}"},
                   chance=after.get("chance", ""), reading=reading(value))
    elif is_score(value):
        row.update(value=f"{value['value']:.3f}", n=n_text(value),
                   **{"95% interval": interval_text(value)}, chance=value.get("chance", ""),
                   reading=reading(value))
    else:
        row["value"] = value
    return row


def headlines(records: dict[str, dict[str, Any]]) -> list[tuple[str, str, Any]]:
    """(stage, measure, value) for every stage's headline entries, in order."""
    return [(name, label, v) for name, rec in records.items()
            for label, v in (rec["summary"].get("headline") or {}).items()]


def scored(records: dict[str, dict[str, Any]]) -> list[tuple[str, str, Any]]:
    """(stage, measure, value) for each headline score that can move: a change (before -> after)
    or a score with a chance level or read against 0 (paired); not a change marked `"decides": False`
    (a loss curve)."""
    return [(stage, label, v) for stage, label, v in headlines(records)
            if (is_change(v) and v.get("decides", True)) or (is_score(v) and ("chance" in v or v.get("paired")))]


def learning_banner(records: dict[str, dict[str, Any]]) -> list[str]:
    """The report's first lines: what moved beyond its interval, or, when nothing did, that the
    run is a smoke test of the plumbing. Nothing when the run scored nothing that could move."""
    found = scored(records)
    if not found:
        return []
    gains = [f"{label} ({stage}): {show(v)}" for stage, label, v in found if moved(v)]
    if gains:
        return ["**Moved beyond its 95% interval:** " + "; ".join(gains) + ".", ""]
    measures = Counter(label.rsplit(" (", 1)[0] for _, label, _ in found)  # "ceval acc (sft)" -> "ceval acc"
    checked = ", ".join(m + (f" x{k}" if k > 1 else "") for m, k in measures.items())
    return ["> **A smoke test of the plumbing, not a result:** no score moved beyond its 95% "
            f"interval: no gain from before to after, no score above its chance level ({len(found)} "
            f"checked: {checked}). The run is too small to learn; its numbers show that every stage "
            "runs end to end, not what the method does." + _curves_aside(records), ""]


def _curves_aside(records: dict[str, dict[str, Any]]) -> str:
    """Why a validation loss that fell beyond its interval does not make a run a result."""
    curves = [v for _, _, v in headlines(records) if is_change(v) and not v.get("decides", True)]
    return (" (Validation-loss lines are shown with their intervals but not counted: any run that "
            "trains lowers its loss.)") if curves else ""


def _stage_section(name: str, rec: dict[str, Any], out: Path) -> list[str]:
    s = rec["summary"]
    lines = [f"## {name} ({rec['kind']}, {rec['seconds']:.0f}s)", "", f"Output: `{rec['output']}`", ""]
    scalars = {k: v for k, v in s.items() if isinstance(v, (int, float, str, bool)) and k != "metrics_file"}
    if scalars:
        lines += [markdown_table([{"key": k, "value": v} for k, v in scalars.items()]), ""]
    if s.get("metrics_file") and Path(s["metrics_file"]).is_file():
        png = plot_loss(s["metrics_file"], out / f"{name}_loss.png", f"{name}: loss")
        if png:
            lines += [f"![{name} loss]({png.name})", ""]
    for title, rows in (s.get("tables") or {}).items():
        lines += [f"**{title}**", "", markdown_table(rows), ""]
    for img in s.get("images") or []:
        rel = Path(img).resolve().relative_to(out.resolve()) if Path(img).resolve().is_relative_to(out.resolve()) else Path(img)
        lines += [f"![{Path(img).stem}]({rel})", ""]
    return lines + [f"{note}\n" for note in s.get("notes") or []]


def write_report(recipe, records: dict[str, dict[str, Any]]) -> Path:
    """Write <run>/report.md (+ PNGs) from each stage's summary.

    A summary may hold: `headline` {label: value} for the report card (a value may be a score
    or a change from lmforge.stats: the card shows its n, 95% interval, chance level and
    reading), `metrics_file` (a metrics.jsonl to plot), `tables` {title: [rows]}, `images`
    [png paths], `notes` [paragraphs shown after them], and scalars.
    """
    out = recipe.out
    lines = [f"# Report: {recipe.name}", "", *learning_banner(records),
             f"Recipe `{recipe.source}`, scale `{recipe.scale}`.", ""]
    card = headlines(records)
    if card:
        lines += ["## Report card", "", markdown_table([card_row(*c) for c in card]), ""]
        if any(is_score(v) or is_change(v) for _, _, v in card):
            lines += [HOW_TO_READ, ""]
    for name, rec in records.items():
        lines += _stage_section(name, rec, out)
    return atomic_write_text(out / "report.md", "\n".join(lines))
