"""The `compare` stage's DUS timeline marks the growth point and the warm-up, and says why the first
evaluation after growth can sit above the loss right after growth."""

from __future__ import annotations

import json
from pathlib import Path

from lmforge.recipes.kinds import StageContext
from lmforge.recipes.runner import check_params  # registers the stage kinds
from lmforge.recipes.stages.results import compare


def _metrics(path: Path, steps: int, warmup: int, peak: float, vals: dict[int, float]) -> str:
    rows = [{"step": s, "loss": 6.5, "lr": peak * min(s, warmup) / warmup if warmup else peak / s,
             **({"val_loss": vals[s]} if s in vals else {})} for s in range(1, steps + 1)]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return str(path)


def test_dus_timeline_marks_growth_and_warmup(tmp_path):
    summaries = {
        "pretrain": {"metrics_file": _metrics(tmp_path / "a.jsonl", 20, 0, 3e-3, {10: 6.5, 20: 6.35}),
                     "steps": 20, "first_val_loss": 6.5, "final_val_loss": 6.35},
        "grow": {"base_val_loss": 6.35, "grown_val_loss": 6.09},
        "continue": {"metrics_file": _metrics(tmp_path / "c.jsonl", 20, 5, 1e-3, {5: 6.19, 20: 6.05}),
                     "steps": 20, "first_val_loss": 6.19, "final_val_loss": 6.05}}
    p = check_params("compare", {"stages": ["pretrain", "grow", "continue"], "chain": True}, "stages.c",
                     out_dir=tmp_path)
    out, summary = compare(p, StageContext(name="c", out_dir=tmp_path, run_dir=tmp_path, outputs={},
                                           summaries=summaries))
    (note,) = summary["notes"]
    assert "continue's learning-rate warm-up (steps 21-25, up to 0.001; the stage before ended at 0.00015)" in note
    assert "first evaluation (6.190 at step 25) is above the loss right after grow (6.090)" in note
    assert "by its last evaluation it is below that (6.050)" in note
    assert Path(out).stat().st_size > 1000
    assert [r["stage"] for r in summary["tables"]["validation loss vs parameters"]] == ["pretrain", "continue"]


def test_no_warmup_note_when_nothing_warms_up(tmp_path):
    summaries = {name: {"metrics_file": _metrics(tmp_path / f"{name}.jsonl", 10, 0, 1e-3, {10: 6.0}),
                        "steps": 10, "final_val_loss": 6.0} for name in ("a", "b")}
    p = check_params("compare", {"stages": ["a", "b"]}, "stages.c", out_dir=tmp_path)
    _, summary = compare(p, StageContext(name="c", out_dir=tmp_path, run_dir=tmp_path, outputs={},
                                         summaries=summaries))
    assert summary["notes"] == [] and summary["headline"] == {"lowest final val loss at equal steps": "a"}


def test_final_val_loss_carries_its_interval_when_logged(tmp_path):
    old = _metrics(tmp_path / "old.jsonl", 10, 0, 1e-3, {10: 6.0})  # written before intervals were logged
    new = tmp_path / "new.jsonl"
    new.write_text(json.dumps({"step": 10, "loss": 6.1, "lr": 1e-3, "val_loss": 5.9, "val_batches": 8,
                               "val_tokens": 4096, "val_loss_ci95_lo": 5.8, "val_loss_ci95_hi": 6.0}) + "\n")
    summaries = {"old": {"metrics_file": old, "steps": 10, "final_val_loss": 6.0},
                 "new": {"metrics_file": str(new), "steps": 10, "final_val_loss": 5.9}}
    p = check_params("compare", {"stages": ["old", "new"]}, "stages.c", out_dir=tmp_path)
    _, summary = compare(p, StageContext(name="c", out_dir=tmp_path, run_dir=tmp_path, outputs={},
                                         summaries=summaries))
    rows = summary["tables"]["validation loss vs parameters"]
    assert [r["final 95% CI"] for r in rows] == ["", "[5.800, 6.000] (t over 8 batches, 4096 tokens)"]
