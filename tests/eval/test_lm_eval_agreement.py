"""Per-question choice log-likelihoods and accuracy equal lm-evaluation-harness's `hf` backend."""

import os
from pathlib import Path

import pytest

from lmforge.eval.runner import evaluate

YAML = """task: ceval_local
dataset_path: csv
dataset_kwargs:
  data_files:
    validation: {val}
    train: {dev}
validation_split: validation
fewshot_split: train
fewshot_config:
  sampler: first_n
output_type: multiple_choice
doc_to_text: "{{{{question.strip()}}}}\\nA. {{{{A}}}}\\nB. {{{{B}}}}\\nC. {{{{C}}}}\\nD. {{{{D}}}}\\n答案："
doc_to_choice: ["A", "B", "C", "D"]
doc_to_target: "{{{{['A', 'B', 'C', 'D'].index(answer)}}}}"
description: "以下是中国关于law考试的单项选择题，请选出其中的正确答案。\\n\\n"
metric_list:
  - metric: acc
  - metric: acc_norm
"""


@pytest.mark.slow
@pytest.mark.parametrize("shots", [2])
def test_matches_lm_eval(model_dir, ceval_dir, tmp_path, shots):
    os.environ["HF_DATASETS_OFFLINE"] = os.environ["HF_HUB_OFFLINE"] = "1"
    from lm_eval import simple_evaluate
    from lm_eval.tasks import TaskManager

    only = tmp_path / "data"
    for split in ("val", "dev"):
        (only / split).mkdir(parents=True)
        src = Path(ceval_dir) / split / f"law_{split}.csv"
        (only / split / src.name).write_text(src.read_text(encoding="utf-8"), encoding="utf-8")
    tasks_dir = tmp_path / "tasks"
    tasks_dir.mkdir()
    (tasks_dir / "ceval_local.yaml").write_text(YAML.format(
        val=only / "val" / "law_val.csv", dev=only / "dev" / "law_dev.csv"), encoding="utf-8")
    ref = simple_evaluate(model="hf", model_args=f"pretrained={model_dir},dtype=float32",
                          tasks=["ceval_local"], num_fewshot=shots, batch_size=4, device="cpu",
                          task_manager=TaskManager(include_path=str(tasks_dir)),
                          log_samples=True, random_seed=0, numpy_random_seed=0,
                          torch_random_seed=0, fewshot_random_seed=0)
    ours = evaluate(model_dir, {"ceval": only}, shots=shots, progress=False)["ceval"]
    samples = sorted(ref["samples"]["ceval_local"], key=lambda s: s["doc_id"])
    assert len(samples) == ours["n"]
    for s, mine in zip(samples, ours["items"]):
        theirs = [r[0][0] if isinstance(r[0], (list, tuple)) else r[0] for r in s["resps"]]
        assert max(abs(a - float(b)) for a, b in zip(mine["loglikelihoods"], theirs)) < 1e-4
    res = ref["results"]["ceval_local"]
    assert res["acc,none"] == pytest.approx(ours["acc"], abs=1e-12)
    assert res["acc_norm,none"] == pytest.approx(ours["acc_norm"], abs=1e-12)
