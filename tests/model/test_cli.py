"""`lmforge model init|info` and `lmforge generate` through the CLI entry point."""

from __future__ import annotations

import json

import pytest

from lmforge.cli import main
from lmforge.model import load_model, preset
from lmforge.model.flops import flops_per_token, param_count
from lmforge.model.generate import SamplingParams, generate
from lmforge.model.loader import load_for_inference, stop_token_ids
from lmforge.recipes.runner import check_params  # registers the stage kinds
from lmforge.tokenizer.chat_template import render
from tests.cli_config import config_of
from tests.export.conftest import model_dir  # noqa: F401  (fixture)

SMALL = ["hidden_size=64", "intermediate_size=96", "num_hidden_layers=1", "vocab_size=300"]




def test_init_info(tmp_path, capsys):
    out = tmp_path / "m"
    assert main(["model", "init", "--preset", "tiny", *SMALL, "--out", str(out)]) == 0
    model = load_model(out)
    assert model.config.num_hidden_layers == 1 and model.config.hidden_size == 64
    assert "1 layers" in capsys.readouterr().out

    assert main(["model", "info", str(out), "--json", "--seq-len", "128"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["parameters"] == param_count(model.config) == model.num_parameters()
    assert info["train_flops_per_token"] == flops_per_token(model.config, 128)

    assert main(["model", "info", "--preset", "llama2-7b"]) == 0
    assert "6.74B" in capsys.readouterr().out


def test_init_flag_key_value_and_model_stage_reach_the_same_fields(tmp_path):
    out = str(tmp_path / "m")
    by_flag = config_of(["model", "init", "--preset", "tiny", "num_hidden_layers=6", "--out", out, "--seed", "3"])
    by_key = config_of(["model", "init", "num_hidden_layers=6", "preset=tiny", "seed=3", "out=" + out])
    assert by_flag == by_key and by_flag.overrides() == {"num_hidden_layers": 6}
    staged = check_params("model", {"preset": "tiny", "num_hidden_layers": 6, "seed": 3}, "stages.m")
    assert staged.fresh_config() == by_flag.fresh_config()
    assert by_flag.fresh_config().num_hidden_layers == 6 != preset("tiny").num_hidden_layers


def test_init_builds_what_model_source_builds(tmp_path):
    """The CLI's folder holds exactly the weights ModelSource.build makes (the one builder)."""
    cfg = config_of(["model", "init", "--preset", "tiny", *SMALL, "--out", str(tmp_path / "m")])
    assert main(["model", "init", "--preset", "tiny", *SMALL, "--out", str(tmp_path / "m")]) == 0
    saved, built = load_model(tmp_path / "m").state_dict(), cfg.build().state_dict()
    assert saved.keys() == built.keys()
    assert all(saved[k].equal(built[k]) for k in saved)


@pytest.mark.parametrize("argv,msg", [
    (["model", "init", "--preset", "huge"], "unknown preset 'huge'; valid presets: tiny, demo"),
    (["model", "init", "--preset", "tiny", "n_layers=2"], "unknown model config key(s) ['n_layers']"),
    (["model", "init"], "give `path`"),
    (["model", "info", "--preset", "nope"], "valid presets"),
    (["model", "info"], "give a model folder or --preset"),
    (["generate", "/no/such/dir", "--prompt", "x"], "model folder /no/such/dir not found"),
])
def test_cli_errors_are_one_clear_line(tmp_path, capsys, argv, msg):
    if argv[:2] == ["model", "init"]:
        argv = argv + ["--out", str(tmp_path / "x")]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert msg in err and "Traceback" not in err
    assert not (tmp_path / "x").exists()


def test_generate_refuses_a_folder_without_tokenizer(tmp_path, capsys):
    assert main(["model", "init", "--preset", "tiny", *SMALL, "--out", str(tmp_path / "m")]) == 0
    capsys.readouterr()
    assert main(["generate", str(tmp_path / "m"), "--prompt", "hello"]) == 2
    err = capsys.readouterr().err
    assert "no tokenizer.json" in err and "Traceback" not in err


def test_generate_flags_and_key_values_reach_the_same_fields(model_dir):  # noqa: F811
    by_flag = config_of(["generate", str(model_dir), "--prompt", "a", "--prompt", "b", "--max-new-tokens", "5",
                       "--chat", "--temperature", "0.5"])
    by_key = config_of(["generate", "max_new_tokens=5", str(model_dir), "--prompt", "a", "b", "chat=true",
                      "temperature=0.5"])
    assert by_flag == by_key
    assert by_flag.prompt == ["a", "b"] and by_flag.chat and by_flag.max_new_tokens == 5


def test_generate_text_and_jsonl_agree_for_any_prompt_count(model_dir, capsys):  # noqa: F811
    prompts = ["Hello, how", "你好，今天"]
    base = ["generate", str(model_dir), "--max-new-tokens", "6", "--prompt", *prompts]
    assert main(base + ["--jsonl"]) == 0
    rows = [json.loads(x) for x in capsys.readouterr().out.splitlines()]
    assert [r["prompt"] for r in rows] == prompts and all(r["tokens"] >= 1 for r in rows)
    assert main(base) == 0
    assert capsys.readouterr().out == "\n\n".join(r["prompt"] + r["completion"] for r in rows) + "\n"
    assert main(base[:-1] + ["--jsonl"]) == 0  # one prompt: still one JSON line
    one = [json.loads(x) for x in capsys.readouterr().out.splitlines()]
    assert len(one) == 1 and one[0]["prompt"] == prompts[0]


def test_generate_chat_renders_the_template(model_dir, capsys):  # noqa: F811
    assert main(["generate", str(model_dir), "--chat", "--prompt", "你好", "--max-new-tokens", "8", "--jsonl"]) == 0
    got = json.loads(capsys.readouterr().out)["completion"]
    loaded = load_for_inference(model_dir)
    tok, model = loaded.tokenizer, loaded.model
    ids, _ = render(tok, [{"role": "user", "content": "你好"}], add_generation_prompt=True)
    stops = stop_token_ids(tok, model.config)
    out = generate(model, [ids], SamplingParams(max_new_tokens=8, stop_token_ids=stops))[0]
    assert got == tok.decode([t for t in out if t not in stops])
    plain = generate(model, [tok.encode("你好", add_bos=True)], SamplingParams(max_new_tokens=8, stop_token_ids=stops))[0]
    assert out != plain  # the template changed what the model saw


def test_every_preset_is_valid_and_priced():
    from lmforge.model import PRESETS

    for name in PRESETS:
        cfg = preset(name)
        assert param_count(cfg) > 0 and flops_per_token(cfg, 2048) > 6 * param_count(cfg, active=True) * 0.5
