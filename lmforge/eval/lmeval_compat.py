"""Write an lm-evaluation-harness task YAML for a local C-Eval subject, so the same files can be
scored by lm-eval (agreement tests, throughput benchmark, users cross-checking a number)."""

from __future__ import annotations

from pathlib import Path

TEMPLATE = """task: {name}
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
description: "以下是中国关于{subject}考试的单项选择题，请选出其中的正确答案。\\n\\n"
metric_list:
  - metric: acc
  - metric: acc_norm
"""


def ceval_task_yaml(ceval_dir: str | Path, subject: str, out_dir: str | Path,
                    name: str = "ceval_local") -> Path:
    """`out_dir/{name}.yaml` scoring `{ceval_dir}/val/{subject}_val.csv` with dev few-shots, in
    lmforge's C-Eval prompt format."""
    root, out = Path(ceval_dir).resolve(), Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    path = out / f"{name}.yaml"
    path.write_text(TEMPLATE.format(
        name=name, val=root / "val" / f"{subject}_val.csv", dev=root / "dev" / f"{subject}_dev.csv",
        subject=subject.replace("_", " ")), encoding="utf-8")
    return path
