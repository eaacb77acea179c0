"""Issue 20's seed-claims runs at a tiny size: `solar-dus scale=demo` (the `seeds` stage) and the
`contamination` recipe (`plant` + `contamination_claim`). The t-interval over seeds: tests/test_stats.py."""

from __future__ import annotations

from pathlib import Path

import pytest

from lmforge.config import ConfigError
from lmforge.recipes.find import recipes_dir
from lmforge.recipes.runner import load_recipe, run_recipe


def test_seeds_control_must_be_an_arm(tmp_path):
    with pytest.raises(ConfigError, match="control"):
        load_recipe(recipes_dir() / "solar-dus.yaml", ["scale=demo", "stages.seeds.control=base"],
                    out=str(tmp_path))


SOLAR_TINY = ["scale=demo", "stages.corpus.max_chars=40000", "stages.tokenizer.vocab_size=512",
              'stages.base.train={"max_steps": 8, "batch_size": 4, "seq_len": 32, "warmup_steps": 1}',
              'stages.seeds.train={"max_steps": 4, "batch_size": 4, "seq_len": 32, "eval_every": 2}',
              "stages.seeds.seeds=[0, 1]", "stages.seeds.workers=2", "stages.grow.seq_len=32",
              "stages.repeat.seq_len=32"]


@pytest.mark.slow
def test_solar_demo_scale_at_a_tiny_size(tmp_path):
    rec = run_recipe(load_recipe(recipes_dir() / "solar-dus.yaml", SOLAR_TINY, out=str(tmp_path)),
                     log=lambda m: None)
    assert "continue" not in rec and "sft" not in rec  # the claim run: the seeds stage continues every arm
    summary = rec["seeds"]["summary"]
    rows = {r["arm"]: r for r in next(iter(summary["tables"].values()))}
    assert set(rows) == {"dense control", "DUS (2(n-m))", "2n repeat", "upcycled MoE"}
    assert all(r["seeds"] == 2 and r["steps"] == 4 for r in rows.values())
    # every (arm, seed) trained its own copy (two at a time), and the seeds' data orders differ
    for arm in ("dense-control", "DUS-2-n-m", "2n-repeat", "upcycled-MoE"):
        for seed in (0, 1):
            assert (tmp_path / "seeds" / f"{arm}-seed{seed}" / "model" / "config.json").is_file()
    finals = [float(v) for v in rows["DUS (2(n-m))"]["final val loss per seed"].split(", ")]
    assert finals[0] != finals[1]
    paired = "minus dense control, paired [95% t]"
    assert paired not in rows["dense control"] and all(paired in rows[a] for a in rows if a != "dense control")
    # the control starts from the base itself; DUS from the grown model (its seam costs something)
    assert rows["DUS (2(n-m))"]["start val loss"] != rows["dense control"]["start val loss"]
    assert rows["upcycled MoE"]["params"] > rows["upcycled MoE"]["active params"]
    assert rows["DUS (2(n-m))"]["params"] == rows["DUS (2(n-m))"]["active params"] > rows["dense control"]["params"]
    assert Path(summary["images"][0]).is_file()
    assert "DUS (2(n-m)) minus dense control" in (tmp_path / "report.md").read_text()


CONTAMINATION_TINY = ["stages.corpus.max_chars=30000", "stages.mc.items=10", "stages.tokenizer.vocab_size=400",
                      "stages.plant.copies=2"] + [
    f'stages.{s}.train={{"max_steps": 3, "batch_size": 4, "seq_len": 32}}' for s in ("clean", "contaminated")]


def test_contamination_recipe_at_a_tiny_size(tmp_path):
    rec = run_recipe(load_recipe(recipes_dir() / "contamination.yaml", CONTAMINATION_TINY, out=str(tmp_path)),
                     log=lambda m: None)
    assert rec["plant"]["summary"]["leaked"] == 10 and rec["plant"]["summary"]["questions"] == 20
    tables = rec["claim"]["summary"]["tables"]
    scores = {r["model"]: r for r in tables["accuracy by question (n; 95% Wilson; chance level)"]}
    assert set(scores) == {"clean", "contaminated"}
    assert all((r["all"]["n"], r["leaked"]["n"], r["unseen"]["n"]) == (20, 10, 10) for r in scores.values())
    assert scores["clean"]["leaked"]["chance"] == 0.25 and scores["clean"]["leaked"]["method"] == "wilson"
    detector = {r["corpus"]: r for r in tables["contamination detector vs the planted truth"]}
    # the planted corpus: every leaked question found, none of the others; the clean one: nothing
    assert (detector["contaminated"]["tp"], detector["contaminated"]["fp"]) == (10, 0)
    assert detector["contaminated"]["precision"]["value"] == detector["contaminated"]["recall"]["value"] == 1.0
    assert (detector["clean"]["tp"], detector["clean"]["fp"], detector["clean"]["fn"]) == (0, 0, 10)
    headline = rec["claim"]["summary"]["headline"]
    assert headline["detector precision on the clean corpus (13-grams)"] == "undefined: nothing flagged"
    assert headline["detector precision on the contaminated corpus (13-grams)"]["value"] == 1.0
    assert Path(rec["claim"]["summary"]["images"][0]).is_file()
    report = (tmp_path / "report.md").read_text()
    assert "accuracy on the leaked questions: clean -> contaminated model" in report
