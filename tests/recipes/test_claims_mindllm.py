"""The MindLLM claims recipes at toy size: the entropy-selection comparison (three SFT arms on the
same budget, scored with intervals) and the IsoFLOP scaling test on a held-out run."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from lmforge.recipes.find import recipes_dir
from lmforge.recipes.runner import load_recipe, run_recipe
from lmforge.stats import GAIN, SAME, DROP


def _run(name: str, out: Path):
    recipe = load_recipe(recipes_dir() / f"{name}.yaml", ["scale=tiny"], out=str(out))
    return run_recipe(recipe, log=lambda m: None)


def _lines(path: str) -> list[dict]:
    return [json.loads(x) for x in Path(path).read_text(encoding="utf-8").splitlines()]


@pytest.mark.slow  # four models trained and scored: about 10 min under a load of 20 on 2 cores
def test_entropy_selection_arms_tiny(tmp_path):
    rec = _run("mindllm-entropy", tmp_path)
    selected, subset, pool = (_lines(rec[s]["output"]) for s in ("select", "random", "pool"))
    assert len(subset) == len(selected) == rec["select"]["summary"]["selected"] > 0
    assert len(pool) == rec["select"]["summary"]["scored"] == 120 + 20 + 30
    # the same budget for every arm: steps x batch
    budgets = {(rec[s]["spec"]["train"]["max_steps"], rec[s]["spec"]["train"]["batch_size"])
               for s in ("sft_band", "sft_random", "sft_all")}
    assert budgets == {(6, 16)}
    arms = rec["arms"]["summary"]
    rows = {r["model"]: r for r in arms["tables"]["SFT arms on the same budget (Wilson 95% intervals)"]}
    assert list(rows) == ["pretrained", "entropy band", "random subset", "all data"]
    assert rows["all data"]["SFT records"] == len(pool) and rows["entropy band"]["SFT records"] == len(selected)
    assert {r["n (skill)"] for r in rows.values()} == {8} and {r["n (MC)"] for r in rows.values()} == {8}
    for label, s in arms["scores"].items():
        lo, hi = s["skill"]["ci95"]
        assert lo <= s["skill"]["value"] <= hi and s["mc"]["chance"] == 0.25
    for measure, change in arms["headline"].items():
        assert change["verdict"] in (GAIN, SAME, DROP), measure
    assert Path(rec["arms"]["output"]).stat().st_size > 10_000  # the bar chart
    assert "skill exact match: random subset -> entropy band" in (tmp_path / "report.md").read_text()


def test_scaling_isoflop_tiny(tmp_path):
    rec = _run("scaling-isoflop", tmp_path)
    s = rec["isoflop"]["summary"]
    held = s["held_out"]
    assert held["depth"] in (1, 2, 3, 4) and held["observed"] > 0 and held["predicted"] > 0
    assert held["error"] == (held["predicted"] - held["observed"]) / held["observed"]
    assert len(s["tables"]["IsoFLOP profiles"]) == 2
    saved = json.loads(Path(rec["isoflop"]["output"]).read_text())
    assert saved["held_out"]["observed"] == held["observed"]
    assert Path(s["images"][0]).stat().st_size > 10_000
    report = (tmp_path / "report.md").read_text()
    assert "IsoFLOP fit (Chinchilla approach 2)" in report and "held-out run" in report
    law = s["headline"]["IsoFLOP fit (Chinchilla approach 2)"]
    assert f"L_opt ∝ C^-b, b = {s['law']['b']:.4f}" in law and f"N_opt ∝ C^a, a = {s['law']['a']:.3f}" in law
