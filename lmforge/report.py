"""report.md for a recipe run: a report card of headline numbers, then each stage with plots."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from lmforge.files import atomic_write_text  # noqa: E402
from lmforge.text import read_jsonl  # noqa: E402


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
    ax.set_xlabel("step")
    ax.set_ylabel("loss (nats/token)")
    ax.set_title(title)
    ax.legend()
    fig.tight_layout()
    fig.savefig(out_png, dpi=100)
    plt.close(fig)
    return out_png


def markdown_table(rows: list[dict[str, Any]]) -> str:
    if not rows:
        return ""
    cols = list(dict.fromkeys(k for r in rows for k in r))
    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    for r in rows:
        lines.append("| " + " | ".join(_fmt(r.get(c, "")) for c in cols) + " |")
    return "\n".join(lines)


def _fmt(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:.4g}"
    return str(v)


def write_report(recipe, records: dict[str, dict[str, Any]]) -> Path:
    """Write <run>/report.md (+ PNGs) from each stage's summary.

    A summary may hold: `headline` {label: value} for the report card, `metrics_file` (a
    metrics.jsonl to plot), `tables` {title: [rows]}, `images` [png paths], and scalars.
    """
    out = recipe.out
    lines = [f"# Report: {recipe.name}", "", f"Recipe `{recipe.source}`, scale `{recipe.scale}`.", ""]
    card = []
    for name, rec in records.items():
        for label, value in (rec["summary"].get("headline") or {}).items():
            card.append({"stage": name, "measure": label, "value": value})
    if card:
        lines += ["## Report card", "", markdown_table(card), ""]
    for name, rec in records.items():
        s = rec["summary"]
        lines += [f"## {name} ({rec['kind']}, {rec['seconds']:.0f}s)", "", f"Output: `{rec['output']}`", ""]
        scalars = {k: v for k, v in s.items() if isinstance(v, (int, float, str, bool))
                   and k not in ("metrics_file",)}
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
    return atomic_write_text(out / "report.md", "\n".join(lines))
