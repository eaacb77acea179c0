"""Per-question choice log-likelihoods and accuracy equal lm-evaluation-harness's `hf` backend."""

import os
from pathlib import Path

import pytest

from lmforge.eval.lmeval_compat import ceval_task_yaml
from lmforge.eval.multiple_choice import MCEvalConfig, run_mc_eval


@pytest.mark.slow
@pytest.mark.parametrize("shots", [2])
def test_matches_lm_eval(model_dir, ceval_dir, tmp_path, shots):
    os.environ["HF_DATASETS_OFFLINE"] = os.environ["HF_HUB_OFFLINE"] = "1"
    from lm_eval import simple_evaluate
    from lm_eval.tasks import TaskManager

    only = tmp_path / "data"  # one subject, so both harnesses see the same questions
    for split in ("val", "dev"):
        (only / split).mkdir(parents=True)
        src = Path(ceval_dir) / split / f"law_{split}.csv"
        (only / split / src.name).write_text(src.read_text(encoding="utf-8"), encoding="utf-8")
    ceval_task_yaml(only, "law", tmp_path / "tasks")
    ref = simple_evaluate(model="hf", model_args=f"pretrained={model_dir},dtype=float32",
                          tasks=["ceval_local"], num_fewshot=shots, batch_size=4, device="cpu",
                          task_manager=TaskManager(include_path=str(tmp_path / "tasks")),
                          log_samples=True, random_seed=0, numpy_random_seed=0,
                          torch_random_seed=0, fewshot_random_seed=0)
    cfg = MCEvalConfig(model=str(model_dir), tasks={"ceval": str(only)}, shots=shots, progress=False)
    ours = run_mc_eval(cfg).results["ceval"]
    samples = sorted(ref["samples"]["ceval_local"], key=lambda s: s["doc_id"])
    assert len(samples) == ours["n"] == 12
    for s, mine in zip(samples, ours["items"]):
        theirs = [r[0][0] if isinstance(r[0], (list, tuple)) else r[0] for r in s["resps"]]
        assert max(abs(a - float(b)) for a, b in zip(mine["loglikelihoods"], theirs)) < 1e-4
    res = ref["results"]["ceval_local"]
    assert res["acc,none"] == pytest.approx(ours["acc"], abs=1e-12)
    assert res["acc_norm,none"] == pytest.approx(ours["acc_norm"], abs=1e-12)
