"""The `distill` recipe (issue 19's Show at the demo's scale; docs/claims.md): its tiny scale end to
end, and the `distill_seeds` stage's checks."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from lmforge.config import ConfigError
from lmforge.recipes.find import recipes_dir
from lmforge.recipes.runner import load_recipe, run_recipe
from lmforge.report import read_metrics

RECIPE = recipes_dir() / "distill.yaml"


def test_the_student_must_be_a_fresh_preset(tmp_path):
    with pytest.raises(ConfigError, match="fresh preset"):
        load_recipe(RECIPE, ['stages.claim.model={"path": "@pretrain"}'], out=str(tmp_path))


def test_seeds_must_differ(tmp_path):
    with pytest.raises(ConfigError, match="repeats a seed"):
        load_recipe(RECIPE, ["stages.claim.seeds=[1, 1]"], out=str(tmp_path))


def test_the_demo_scale_is_the_demos_teacher_and_pretrain_schedule(tmp_path):
    """The claim's teacher stages and the students' schedule are the demo's own settings."""
    ours = load_recipe(RECIPE, ["scale=demo"], out=str(tmp_path / "a")).stages
    demo = load_recipe(recipes_dir() / "demo.yaml", [], out=str(tmp_path / "b")).stages
    for name in ("corpus", "tokenizer", "data", "pretrain", "grow", "continue"):
        assert ours[name] == demo[name], name
    assert ours["claim"]["train"] == demo["pretrain"]["train"]
    assert ours["claim"]["model"]["preset"] == demo["pretrain"]["model"]["preset"] == "demo"
    assert ours["claim"]["teacher"] == "@continue" and len(ours["claim"]["seeds"]) >= 2


def _final(run: Path, key: str) -> float:
    return [r[key] for r in read_metrics(run / "metrics.jsonl") if key in r][-1]


@pytest.mark.slow
def test_tiny_scale_end_to_end(tmp_path):
    rec = run_recipe(load_recipe(RECIPE, [], out=str(tmp_path)), log=lambda m: None)
    summary = rec["claim"]["summary"]
    per_seed, overall = summary["tables"].values()
    # both arms of every seed trained on the same number of tokens: 30 steps x 8 x 64
    assert [r["seed"] for r in per_seed] == [0, 1]
    assert all(r["tokens (scratch)"] == r["tokens (distilled)"] == 30 * 8 * 64 for r in per_seed)
    # the stage's scores are the training loop's own last evaluations, on the same validation batches
    for seed in (0, 1):
        for arm, key in (("scratch", "val_loss"), ("distilled", "val_ce")):
            logged = _final(tmp_path / "claim" / f"{arm}-seed{seed}", key)
            assert summary["scores"][f"{arm} seed {seed}"] == pytest.approx(logged, abs=1e-5)
    assert summary["teacher_val_ce"] == pytest.approx(_final(tmp_path / "continue", "val_loss"), abs=1e-5)
    # the two arms differ (one learned from the teacher), and seeds give different students
    s = summary["scores"]
    assert s["scratch seed 0"] != s["distilled seed 0"] and s["scratch seed 0"] != s["scratch seed 1"]
    diffs = [s[f"distilled seed {k}"] - s[f"scratch seed {k}"] for k in (0, 1)]
    assert overall[-1]["val CE [95% t over seeds]"].startswith(f"{sum(diffs) / 2:.4f} [")
    # at this toy size the distilled student is below the same student from scratch in each seed
    # (measured: -0.189 and -0.135 nats; teacher 5.754, students 5.79-5.99)
    assert all(d < -0.05 for d in diffs)
    # the teacher (6 layers, 80 steps) is better than the 4-layer student trained 30 steps alone
    assert summary["teacher_val_ce"] < min(s["scratch seed 0"], s["scratch seed 1"])
    teacher_row, layers = overall[0], [r["layers"] for r in overall[:3]]
    assert teacher_row["model"] == "teacher" and layers == [6, 4, 4]
    assert Path(summary["images"][0]).is_file()
    assert "distilled minus scratch" in (tmp_path / "report.md").read_text()
    recorded = json.loads((tmp_path / "claim" / "distilled-seed1" / "model" / "lmforge.json").read_text())
    assert "distill" in json.dumps(recorded)
