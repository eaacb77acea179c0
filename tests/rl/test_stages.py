"""The `rm` and `rl` recipe stages: a tiny recipe runs both and the report carries their numbers."""

import json

from lmforge.recipes.runner import load_recipe, run_recipe
from lmforge.synth.skills import number_preferences, number_skill


def _jsonl(path, recs):
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in recs), encoding="utf-8")
    return path


def test_rm_and_rl_stages_run_and_report(tmp_path, base_dir):
    pairs = _jsonl(tmp_path / "pairs.jsonl", number_preferences(32, seed=1, numbers=range(10)))
    skill = number_skill(16, seed=2, numbers=range(10))
    prompts = _jsonl(tmp_path / "prompts.jsonl",
                     [{"prompt": r["messages"][0]["content"], "answer": r["answer"]} for r in skill])
    test = _jsonl(tmp_path / "skill.jsonl", skill[:4])
    (tmp_path / "r.yaml").write_text(f"""name: rltiny
stages:
  base: {{kind: model, path: {base_dir}}}
  rm:
    kind: rm
    model: "@base"
    data: {{files: [{pairs}], max_len: 96, heldout_fraction: 0.25}}
    train: {{max_steps: 2, batch_size: 8, device: cpu}}
  rl:
    kind: rl
    model: "@base"
    prompts: {{files: [{prompts}]}}
    rewards: [{{kind: exact}}, {{kind: regex, pattern: '\\S', weight: 0.1}}]
    grpo: {{group: 4}}
    sampling: {{max_new_tokens: 4}}
    train: {{max_steps: 2, batch_size: 8, device: cpu}}
    skill_test: {test}
""")
    records = run_recipe(load_recipe(tmp_path / "r.yaml", out=str(tmp_path / "run")), log=lambda m: None)
    rm, rl = records["rm"]["summary"], records["rl"]["summary"]
    assert rm["heldout_pairs"] == 8 and 0 <= rm["heldout_accuracy"] <= 1
    cfg = json.loads((tmp_path / "run" / "rm" / "model" / "config.json").read_text())
    assert cfg["architectures"] == ["LlamaForSequenceClassification"]
    assert rl["steps"] == 2 and rl["reward_first5"] > 0  # the regex reward: non-blank completions
    assert rl["skill_accuracy_before"] == 0.0 and "skill_accuracy_after" in rl
    report = (tmp_path / "run" / "report.md").read_text()
    assert "reward model held-out pair accuracy" in report and "GRPO mean reward" in report
