"""Dry-run sizes of a fresh model use its tokenizer's vocabulary (issue 20 item 4): the tiny
steel-llm trains a 1,024-token tokenizer, so its model has 320,064 parameters, not the preset's
451,136 (the preset's default 2,048-row vocabulary)."""

from __future__ import annotations

import re

from lmforge.model.flops import param_count
from lmforge.model.source import ModelSource
from lmforge.recipes.find import recipes_dir
from lmforge.recipes.plan import plan, print_plan
from lmforge.recipes.runner import load_recipe


def test_tiny_steel_dry_run_counts_the_parameters_that_are_trained(capsys):
    recipe = load_recipe(recipes_dir() / "steel-llm.yaml", [])
    rows = {r["stage"]: r for r in plan(recipe)}
    spec = recipe.stages["pretrain"]["model"]
    built = ModelSource(**spec).build(vocab_size=recipe.stages["tokenizer"]["vocab_size"])
    assert rows["pretrain"]["vocab_size"] == 1024
    assert rows["pretrain"]["params"] == built.num_parameters() == 320_064
    assert rows["sft"]["params"] == 320_064  # SFT trains the same model
    preset_vocab = ModelSource(**spec).fresh_config()
    assert param_count(preset_vocab) == 451_136  # what the dry run printed before the fix (ec1b038)
    print_plan(recipe)
    assert re.search(r"pretrain\s+pretrain\s+4 layers\s+320.06K params vocab 1,024 ", capsys.readouterr().out)
