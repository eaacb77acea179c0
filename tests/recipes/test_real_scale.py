"""Every recipe's real scale, dry-run against a stand-in of its base (the real config.json and a
tokenizer of the real kind and size, no weights): the model sizes and budgets of the seed paper,
and a planted wrong tokenizer refused with both names (issue 17, Build item 4)."""

from __future__ import annotations

import re

import pytest

from lmforge.cli import main
from lmforge.config import ConfigError
from lmforge.errors import UserError
from lmforge.recipes.find import RunConfig, recipes_dir, run_named
from lmforge.recipes.kinds import STAGE_KINDS, StageContext, check_params
from lmforge.recipes.plan import plan
from lmforge.recipes.runner import load_recipe
from lmforge.recipes.tokcheck import check_model_folder
from tests.recipes.standins import write_base, write_qwen15_tokenizer, write_tokenizer


@pytest.fixture(scope="module")
def bases(tmp_path_factory):
    root = tmp_path_factory.mktemp("bases")
    return {"mistral": str(write_base("mistral", root / "Mistral-7B-v0.1")),
            "llama2": str(write_base("llama2", root / "Llama-2-7b-hf")),
            "qwen1.5": str(write_qwen15_tokenizer(root / "Qwen1.5-MoE-A2.7B-Chat"))}


def _rows(name: str, *overrides: str) -> dict[str, dict]:
    return {r["stage"]: r for r in plan(load_recipe(recipes_dir() / f"{name}.yaml", ["scale=real", *overrides]))}


def _dry_run(capsys, name: str, *overrides: str) -> str:
    run_named(RunConfig(recipe=name, dry_run=True, overrides=["scale=real", *overrides]))
    return capsys.readouterr().out


def test_solar_continues_mistral_with_its_own_tokenizer(bases, capsys):
    out = _dry_run(capsys, "solar-dus", f"stages.base.path={bases['mistral']}")
    assert re.search(r"base\s+model\s+32 layers\s+7.24B params vocab 32,000", out)
    assert re.search(r"grow\s+grow_dus\s+48 layers\s+10.73B params vocab 32,000", out)
    assert f"data               pack             tokenizer {bases['mistral']} (32,000 tokens)" in out
    assert not re.search(r"^\s+(tokenizer|base_data)\s", out, re.M)  # nothing trained or packed before
    assert "! stages.base" not in out  # the base folder was found and checked
    rows = _rows("solar-dus", f"stages.base.path={bases['mistral']}")
    # SOLAR's Table 1 (samples used): SFT 52K + 100K + 52K, DPO 12.9K + 60.8K + 20.1K, one epoch each
    assert rows["sft"]["samples"] == pytest.approx(204_000, rel=0.01)
    assert rows["dpo"]["samples"] == pytest.approx(93_800, rel=0.01)
    assert rows["sft"]["tokens"] > 5e8 and rows["dpo"]["tokens"] > 5e8  # was 46.08K tokens
    assert rows["sft"]["train_flops"] > 1e19
    assert "204.80K conversations" in out and "94.08K pairs" in out


def test_the_dry_run_names_each_input_file_that_is_not_there(bases, tmp_path, capsys):
    sft = tmp_path / "alpaca.jsonl"
    sft.write_text("{}\n")
    out = _dry_run(capsys, "solar-dus", f"stages.base.path={bases['mistral']}",
                   f"stages.sft.data.files=[{sft}, {tmp_path}/missing.jsonl]")
    assert f"! stages.sft.data.files[1]: {tmp_path}/missing.jsonl does not exist (yet)" in out
    assert f"{sft} does not exist" not in out  # a file that is there is not named
    assert "! stages.dpo.data.files[0]: /data/dpo/orca-dpo-pairs.jsonl does not exist (yet)" in out
    assert "@" not in "".join(line for line in out.splitlines() if "does not exist" in line)


def test_solar_refuses_a_base_folder_with_another_tokenizer(tmp_path):
    bad = write_base("mistral", tmp_path / "mistral", tokenizer_size=1024)
    with pytest.raises(ConfigError) as e:
        _rows("solar-dus", f"stages.base.path={bad}")
    msg = str(e.value)
    assert f"{bad}/tokenizer.json has 1,024 tokens" in msg and f"{bad}/config.json has vocab_size 32,000" in msg


def test_solar_refuses_data_packed_with_another_tokenizer(bases):
    with pytest.raises(ConfigError) as e:
        _rows("solar-dus", f"stages.base.path={bases['mistral']}", f"stages.data.tokenizer={bases['llama2']}")
    msg = str(e.value)
    assert msg.startswith("stages.continue.data.path: @data (stages.data) is packed with")
    assert f"{bases['llama2']} (32,000 tokens)" in msg and f"{bases['mistral']} (32,000 tokens)" in msg


def test_cli_dry_run_error_names_both_tokenizers(bases, capsys):
    code = main(["run", "solar-dus", "scale=real", "--dry-run", f"stages.base.path={bases['mistral']}",
                 f"stages.data.tokenizer={bases['llama2']}"])
    err = capsys.readouterr().err
    assert code == 2 and bases["llama2"] in err and bases["mistral"] in err


def test_chinese_llama_extends_llamas_own_tokenizer(bases, capsys):
    out = _dry_run(capsys, "chinese-llama", f"stages.base.path={bases['llama2']}")
    assert re.search(r"base\s+model\s+32 layers\s+6.74B params vocab 32,000", out)
    assert re.search(r"grow_vocab\s+grow_vocab\s+32 layers\s+6.89B params vocab 49,953", out)
    assert f"extension of {bases['llama2']}) (at most 49,953 tokens)" in out  # extend stops at 32,000 + 17,953
    rows = _rows("chinese-llama", f"stages.base.path={bases['llama2']}")
    assert rows["grow_vocab"]["params"] - rows["base"]["params"] == 2 * 17_953 * 4096
    assert rows["full"]["vocab_size"] == rows["sft"]["vocab_size"] == 49_953


def test_chinese_llama_refuses_extending_another_tokenizer(bases):
    with pytest.raises(ConfigError) as e:
        _rows("chinese-llama", f"stages.base.path={bases['llama2']}", f"stages.extend.base={bases['mistral']}")
    msg = str(e.value)
    assert msg.startswith("stages.grow_vocab.tokenizer: @extend extends")
    assert bases["mistral"] in msg and bases["llama2"] in msg


def test_chinese_llama_size_out_of_reach_of_the_extension(bases):
    with pytest.raises(ConfigError, match=r"vocab_size: 49,953 cannot come out of extending 32,000 tokens "
                                          r"with 10,000 more"):
        _rows("chinese-llama", f"stages.base.path={bases['llama2']}", "stages.zh_tok.vocab_size=10000")


def test_steel_uses_qwen15s_tokenizer(bases, capsys):
    out = _dry_run(capsys, "steel-llm", f"stages.tokenizer.path={bases['qwen1.5']}")
    assert f"tokenizer_folder tokenizer {bases['qwen1.5']} (151,646 tokens)" in out
    rows = _rows("steel-llm", f"stages.tokenizer.path={bases['qwen1.5']}")
    assert rows["pretrain"]["layers"] == 18 and rows["pretrain"]["vocab_size"] == 151_646
    assert rows["pretrain"]["params"] / 1e9 == pytest.approx(0.96, abs=0.01)
    assert rows["pretrain"]["tokens"] / 1e12 == pytest.approx(1.05, abs=0.01)  # Steel-LLM: about 1T tokens
    with pytest.raises(ConfigError, match="is packed with .*Llama-2-7b-hf .*Qwen1.5-MoE-A2.7B-Chat"):
        _rows("steel-llm", f"stages.tokenizer.path={bases['qwen1.5']}", f"stages.data.tokenizer={bases['llama2']}")


@pytest.mark.parametrize("name,billions", [("mindllm-1.3b", 1.26), ("mindllm-3b", 3.12)])
def test_mindllm_trains_its_own_125700_tokenizer(bases, name, billions):
    rows = _rows(name)
    assert rows["tokenizer"]["tokenizer"] == "stages.tokenizer (trained) (125,700 tokens)"
    assert rows["pretrain"]["vocab_size"] == 125_700
    assert rows["pretrain"]["params"] / 1e9 == pytest.approx(billions, abs=0.01)
    with pytest.raises(ConfigError, match=r"packed with .*Llama-2-7b-hf \(32,000 tokens\), but the model trains "
                                          r"with stages.tokenizer \(trained\) \(125,700 tokens\)"):
        _rows(name, f"stages.data.tokenizer={bases['llama2']}")


@pytest.mark.parametrize("size,config,msg", [
    (1024, {}, "has 1,024 tokens but .* vocab_size 32,000"),
    (32768, {}, "has 32,768 tokens but .* vocab_size 32,000"),      # ids past the embedding
    (32000, {"eos_token": "<unk>"}, "eos id 0 but .* eos_token_id 2"),
])
def test_a_model_folder_must_hold_its_own_tokenizer(tmp_path, size, config, msg):
    folder = write_base("llama2", tmp_path / "m")
    write_tokenizer(folder, size, "llama2", **config)
    with pytest.raises(ConfigError, match=msg):
        check_model_folder(str(folder), "stages.base")


def test_padded_embedding_is_not_a_wrong_tokenizer(tmp_path):
    """Qwen-style padding: fewer tokenizer entries than embedding rows, within 1%."""
    folder = write_base("llama2", tmp_path / "m", tokenizer_size=31_800)
    check_model_folder(str(folder), "stages.base")


def test_missing_base_folder_is_a_note_not_an_error(capsys):
    out = _dry_run(capsys, "solar-dus", "stages.base.path=/nonexistent/Mistral-7B-v0.1")
    assert "! stages.base.path: /nonexistent/Mistral-7B-v0.1 not found: shapes from preset mistral-7b" in out
    assert re.search(r"grow\s+grow_dus\s+48 layers\s+10.73B params", out)


def test_tokenizer_folder_stage_hands_on_the_folder(bases, tmp_path):
    ctx = StageContext(name="tokenizer", out_dir=tmp_path, run_dir=tmp_path, outputs={})
    params = check_params("tokenizer_folder", {"path": bases["qwen1.5"]}, "stages.tokenizer")
    out, summary = STAGE_KINDS["tokenizer_folder"][1](params, ctx)
    assert out == bases["qwen1.5"] and summary["vocab_size"] == 151_646
    empty = check_params("tokenizer_folder", {"path": str(tmp_path)}, "stages.tokenizer")
    with pytest.raises(UserError, match="tokenizer.json: file not found"):
        STAGE_KINDS["tokenizer_folder"][1](empty, ctx)


def test_continuing_a_model_with_another_tokenizer_is_refused(bases):
    with pytest.raises(ConfigError, match=r"stages.continue.tokenizer: .*Llama-2-7b-hf \(32,000 tokens\) is not "
                                          r"the tokenizer of model @grow, .*Mistral-7B-v0.1 \(32,000 tokens\)"):
        _rows("solar-dus", f"stages.base.path={bases['mistral']}", f"stages.continue.tokenizer={bases['llama2']}")
