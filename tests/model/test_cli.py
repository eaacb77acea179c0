"""`lmforge model init|info` and `lmforge generate` through the CLI entry point."""

from __future__ import annotations

import json

import pytest

from lmforge.cli import main
from lmforge.model import load_model, preset
from lmforge.model.flops import flops_per_token, param_count

SMALL = ["--set", "hidden_size=64", "--set", "intermediate_size=96", "--set", "num_hidden_layers=1",
         "--set", "vocab_size=300"]


def test_init_info_generate(tmp_path, capsys):
    out = tmp_path / "m"
    assert main(["model", "init", "--preset", "tiny", *SMALL, "--out", str(out)]) == 0
    model = load_model(out)
    assert model.config.num_hidden_layers == 1 and model.config.hidden_size == 64
    capsys.readouterr()

    assert main(["model", "info", str(out), "--json", "--seq-len", "128"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["parameters"] == param_count(model.config) == model.num_parameters()
    assert info["train_flops_per_token"] == flops_per_token(model.config, 128)

    assert main(["model", "info", "--preset", "llama2-7b"]) == 0
    assert "6.74B" in capsys.readouterr().out

    # no tokenizer in the folder: the byte-level fallback; a batch prints one JSON line per prompt
    assert main(["generate", str(out), "--prompt", "hello", "--prompt", "你好",
                 "--max-new-tokens", "4"]) == 0
    rows = [json.loads(x) for x in capsys.readouterr().out.splitlines()]
    assert [r["prompt"] for r in rows] == ["hello", "你好"]


@pytest.mark.parametrize("argv,msg", [
    (["model", "init", "--preset", "huge"], "unknown preset 'huge'; valid presets: tiny, demo"),
    (["model", "init", "--preset", "tiny", "--set", "n_layers=2"], "unknown model config key(s) ['n_layers']"),
    (["model", "info", "--preset", "nope"], "valid presets"),
    (["model", "info"], "give a model folder or --preset"),
    (["generate", "/no/such/dir", "--prompt", "x"], "model folder not found"),
])
def test_cli_errors_are_one_clear_line(tmp_path, capsys, argv, msg):
    if argv[:2] == ["model", "init"]:
        argv = argv + ["--out", str(tmp_path / "x")]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert msg in err and "Traceback" not in err
    assert not (tmp_path / "x").exists()


def test_every_preset_is_valid_and_priced():
    from lmforge.model import PRESETS

    for name in PRESETS:
        cfg = preset(name)
        assert param_count(cfg) > 0 and flops_per_token(cfg, 2048) > 6 * param_count(cfg, active=True) * 0.5
