"""`lmforge grow dus|slices|vocab|upcycle`: the CLI flags, key=value and the recipe stages reach
the same configs, and the verbs write what the library writes."""

from __future__ import annotations

import pytest
import torch
import yaml

from lmforge.cli import main
from lmforge.grow.dus import DUSConfig, dus_layers
from lmforge.model import load_model, save_model
from lmforge.model.io import read_weights
from lmforge.recipes.runner import check_params  # registers the stage kinds
from tests.cli_config import config_of


@pytest.fixture
def base(tmp_path, tiny_model):
    return str(save_model(tiny_model, tmp_path / "base", created_by="test"))  # 2 layers


def test_dus_layers_is_the_one_arithmetic():
    assert dus_layers(32, drop=8) == (8, 48)  # SOLAR 10.7B
    assert dus_layers(32, target_layers=48) == (8, 48)
    assert dus_layers(4, drop=0) == (0, 8)
    for kwargs, msg in [({}, "exactly one"), ({"drop": 1, "target_layers": 6}, "exactly one"),
                        ({"drop": 2}, "--drop 2"), ({"target_layers": 5}, "target-layers 5")]:
        with pytest.raises(ValueError, match=msg):
            dus_layers(4, **kwargs)


def test_dus_flag_key_value_and_stage_reach_the_same_config(base, tmp_path):
    out = str(tmp_path / "g")
    by_flag = config_of(["grow", "dus", "--model", base, "--drop", "1", "--out", out])
    by_key = config_of(["grow", "dus", "drop=1", "--model", base, "out=" + out])
    assert by_flag == by_key == DUSConfig(model=base, drop=1, out=out)
    staged = check_params("grow_dus", {"model": base, "drop": 1, "data": "x"}, "stages.grow", out_dir=tmp_path / "s")
    assert staged.model_dump(include={"model", "drop", "target_layers"}) == \
        by_flag.model_dump(include={"model", "drop", "target_layers"})
    with pytest.raises(ValueError, match="exactly one of `drop` or `target_layers`"):
        check_params("grow_dus", {"model": base}, "stages.grow", out_dir=tmp_path / "s")


def test_grow_verbs_write_the_grown_folders(base, tmp_path, capsys):
    assert main(["grow", "dus", "--model", base, "--target-layers", "4", "--out", str(tmp_path / "dus")]) == 0
    assert load_model(tmp_path / "dus").config.num_hidden_layers == 4
    assert main(["grow", "upcycle", "--model", base, "--experts", "2", "--top-k", "1",
                 "--out", str(tmp_path / "moe")]) == 0
    assert load_model(tmp_path / "moe").config.num_local_experts == 2
    spec = tmp_path / "s.yaml"
    spec.write_text(yaml.safe_dump({"slices": [{"model": base, "layer_range": [0, 2]},
                                               {"model": base, "layer_range": [1, 2], "scale": 0.5}]}))
    assert main(["grow", "slices", str(spec), "--out", str(tmp_path / "sl")]) == 0
    w, b = read_weights(tmp_path / "sl"), read_weights(base)
    assert torch.equal(w["model.layers.2.mlp.down_proj.weight"], b["model.layers.1.mlp.down_proj.weight"] * 0.5)
    assert capsys.readouterr().out.count("wrote ") == 3


def test_grow_errors_are_one_clear_line(base, tmp_path, capsys):
    assert main(["grow", "dus", "--model", base, "--drop", "1", "--target-layers", "4",
                 "--out", str(tmp_path / "x")]) == 2
    assert "exactly one of `drop` or `target_layers`" in capsys.readouterr().err
    assert main(["grow", "upcycle", "--model", str(tmp_path / "none"), "--out", str(tmp_path / "x")]) == 2
    assert "not found" in capsys.readouterr().err
    assert not (tmp_path / "x").exists()


def test_upcycle_and_vocab_stages_take_the_operation_configs(base, tmp_path):
    up = check_params("grow_upcycle", {"model": base, "experts": 4}, "stages.u", out_dir=tmp_path)
    assert (up.experts, up.top_k, up.router_std) == (4, 2, 0.01)
    by_flag = config_of(["grow", "upcycle", "--model", base, "--experts", "4", "--out", str(tmp_path)])
    assert by_flag == up
    vocab = check_params("grow_vocab", {"model": base, "tokenizer": "t", "vocab_size": 9}, "stages.v",
                         out_dir=tmp_path)
    assert vocab == config_of(["grow", "vocab", "--model", base, "--tokenizer", "t", "vocab_size=9",
                             "--out", str(tmp_path)])
