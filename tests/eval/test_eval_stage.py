"""The recipe `eval` stage runs `lmforge eval mc` / `perplexity` per model: same numbers, same files."""

from __future__ import annotations

import json

from lmforge.eval.multiple_choice import MCEvalConfig, run_mc_eval
from lmforge.eval.perplexity import PerplexityConfig, run_perplexity
from lmforge.recipes.kinds import StageContext
from lmforge.recipes.runner import check_params  # registers the stage kinds
from lmforge.recipes.stages.results import eval_models
from lmforge.stats import wilson


def test_eval_stage_table_equals_the_operations(model_dir, ceval_dir, tmp_path):
    text = tmp_path / "t.jsonl"
    text.write_text(json.dumps({"text": "北京是中国的首都。"}) + "\n")
    run = tmp_path / "run"
    spec = {"models": {"a": str(model_dir)}, "tasks": {"ceval": str(ceval_dir)}, "shots": 1, "limit": 6,
            "perplexity": [str(text)]}
    p = check_params("eval", spec, "stages.eval", out_dir=run)
    out, summary = eval_models(p, StageContext(name="eval", out_dir=run, run_dir=tmp_path, outputs={}))
    row = summary["tables"]["evaluation"][0]
    mc = run_mc_eval(MCEvalConfig(model=str(model_dir), tasks={"ceval": str(ceval_dir)}, shots=1, limit=6,
                                  progress=False)).results["ceval"]
    ppl = run_perplexity(PerplexityConfig(model=str(model_dir), files=[str(text)])).results["perplexity"]
    lo, hi = wilson(round(mc["acc"] * 6), 6)
    assert row == {"model": "a", "ceval acc": round(mc["acc"], 3), "ceval acc 95% CI": f"[{lo:.3f}, {hi:.3f}]",
                   "ceval acc_norm": round(mc["acc_norm"], 3), "bits/byte": round(ppl["bits_per_byte"], 4),
                   "bits/byte 95% CI": "[{0:.4f}, {0:.4f}]".format(ppl["bits_per_byte"]),  # one document
                   "documents": 1}
    # the report card's score: n questions, the Wilson interval, chance = 1/4 (four choices each)
    score = summary["headline"]["ceval acc (a)"]
    assert score["n"] == 6 and score["ci95"] == [lo, hi] and score["chance"] == 0.25
    assert "ceval acc: n=6 questions, chance 0.25" in summary["notes"][0]
    saved = json.loads((run / "a" / "results.json").read_text())
    assert saved["results"]["ceval"]["items"] == mc["items"] and saved["config"]["limit"] == 6
    assert (run / "a" / "results.md").is_file()
