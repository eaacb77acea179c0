"""Stage kinds not covered by the shipped recipes' tiny runs, and their errors."""

from __future__ import annotations

import pytest

from lmforge.config import ConfigError
from lmforge.recipes.runner import load_recipe, run_recipe

RECIPE = """
name: kinds
stages:
  corpus: {kind: corpus, max_chars: 40000}
  tok: {kind: tokenizer, input: "@corpus", vocab_size: 400}
  fresh: {kind: model, preset: tiny, tokenizer: "@tok", hidden_size: 32, intermediate_size: 64,
          num_hidden_layers: 2, num_attention_heads: 2, num_key_value_heads: 2}
  same: {kind: model, path: "@fresh"}
  plan: {kind: scaling_plan, gpu: h100, count: 8, days: 30, mfu: 0.4, preset: steel-1b}
  gguf: {kind: export_gguf, model: "@same", type: q8_0}
"""


def test_model_plan_and_export_stages(tmp_path):
    from lmforge.model import load_model

    path = tmp_path / "r.yaml"
    path.write_text(RECIPE)
    rec = run_recipe(load_recipe(path, out=str(tmp_path / "run")), log=lambda m: None)
    model = load_model(rec["fresh"]["output"])
    assert model.config.vocab_size == 400 and model.config.hidden_size == 32
    assert rec["same"]["output"] == rec["fresh"]["output"]  # an existing folder is used as is
    head = rec["plan"]["summary"]["headline"]
    assert "compute-optimal N*, D*" in head and any(k.startswith("steel-1b") for k in head)
    assert rec["gguf"]["output"].endswith("model-q8_0.gguf") and rec["gguf"]["summary"]["bytes"] > 0
    assert (tmp_path / "run" / "report.md").is_file()


@pytest.mark.parametrize("stages,msg", [
    ("m: {kind: model}", "give `path`"),
    ("m: {kind: export_gguf, model: x, type: q4}", "(?s)type.*'f32', 'f16' or 'q8_0'"),
    ("m: {kind: compare, stages: [a]}", "(?s)stages.*at least 2"),
    ("m: {kind: pretrain, model: x, data: {path: p}, train: {lr: -1}}", "(?s)train.lr.*greater than 0"),
    ("m: {kind: sft_data, lang: fr}", "(?s)lang.*'zh' or 'en'"),
])
def test_bad_stage_params_fail_before_running(tmp_path, stages, msg):
    path = tmp_path / "r.yaml"
    path.write_text(f"stages:\n  {stages}\n")
    with pytest.raises(ConfigError, match=msg):
        load_recipe(path)


def test_grow_vocab_checks_the_expected_size(tmp_path):
    path = tmp_path / "r.yaml"
    path.write_text(RECIPE.split("  same:")[0] + "  grow: {kind: grow_vocab, model: \"@fresh\", "
                    "tokenizer: \"@tok\", vocab_size: 999}\n")
    with pytest.raises(ValueError, match="vocab_size 999 but .* has 400 tokens"):
        run_recipe(load_recipe(path, out=str(tmp_path / "run")), log=lambda m: None)
