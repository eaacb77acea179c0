"""The derived CLI: flags, key=value anywhere, --help defaults, and the recipe stage reach the
same config fields (issue 15)."""

from __future__ import annotations

import json

import pytest

from lmforge.cli import build_parser, main, parse
from lmforge.recipes.runner import check_params  # registers the kinds
from lmforge.train.pretrain import PretrainConfig
from tests.cli_config import config_of


def test_override_anywhere_flag_and_recipe_reach_the_same_field(write_config, tmp_path):
    path = str(write_config())
    by_flag = config_of(["pretrain", path, "--objective", "glm", "--fresh"])
    by_override_first = config_of(["pretrain", "objective=glm", path, "--fresh"])
    by_override_last = config_of(["pretrain", path, "--fresh", "objective=glm"])
    assert by_flag == by_override_first == by_override_last
    assert by_flag.objective == "glm"
    spec = {k: v for k, v in by_flag.model_dump(by_alias=True).items() if k != "out"}
    staged = check_params("pretrain", spec, "stages.pretrain", out_dir=tmp_path / "run")
    assert isinstance(staged, PretrainConfig) and staged == by_flag


def test_nested_override_after_a_flag_and_later_wins(write_config):
    path = str(write_config())
    cfg = config_of(["pretrain", path, "--fresh", "train.max_steps=5", "train.lr=0.01",
                   "train.max_steps=7"])
    assert (cfg.train.max_steps, cfg.train.lr) == (7, 0.01)


def test_value_of_an_option_is_not_taken_for_an_override(write_config, tmp_path):
    odd = tmp_path / "train.max_steps=9"  # a folder name that looks like an override
    cfg = config_of(["pretrain", str(write_config()), "--out", str(odd)])
    assert cfg.out == str(odd) and cfg.train.max_steps == 12


def test_unknown_key_names_the_key(write_config, capsys):
    assert main(["pretrain", str(write_config()), "train.max_stepz=3"]) == 2
    err = capsys.readouterr().err
    assert "train.max_stepz" in err and "unknown key" in err and "Traceback" not in err


def test_help_shows_nested_defaults(capsys):
    with pytest.raises(SystemExit):
        main(["pretrain", "--help"])
    text = capsys.readouterr().out
    assert "train.max_steps" in text and "= 100" in text
    assert "train.lr" in text and "0.0003" in text
    assert "--objective {causal_lm,glm}" in text


def test_recipe_stage_refuses_out(write_config):
    from lmforge.config import ConfigError

    with pytest.raises(ConfigError, match=r"stages.x.out: set by the recipe runner"):
        check_params("pretrain", {"out": "elsewhere", "model": {"preset": "tiny"},
                                  "data": {"path": "x"}}, "stages.x")


@pytest.mark.slow
def test_pretrain_fresh_with_override_after_flag_runs(write_config, tmp_path, capsys):
    path = str(write_config())
    assert main(["pretrain", path, "--fresh", "train.max_steps=5", "train.eval_every=0"]) == 0
    rows = [json.loads(x) for x in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    assert max(r["step"] for r in rows) == 5
    assert "done: step 5" in capsys.readouterr().out


def test_run_takes_recipe_overrides_anywhere(capsys):
    argv = ["run", "steel-llm", "--out", "/tmp/x", "stages.sft.train.max_steps=3", "--dry-run"]
    args = parse(build_parser(), argv)
    assert args.overrides == ["stages.sft.train.max_steps=3"]
    assert main(argv) == 0
    sft = [line for line in capsys.readouterr().out.splitlines() if line.split()[:2] == ["sft", "sft"]]
    # 3 steps x 16 conversations of <= 160 tokens, not the recipe's 20 steps
    assert sft and "x 48 conversations x <= 7.68K tokens" in sft[0]
