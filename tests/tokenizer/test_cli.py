"""`lmforge tokenizer train|extend|stats` derived from the tokenizer configs: the flag, the same
key=value and the recipe stage's field reach the same config field."""

from __future__ import annotations

import json

import pytest

from lmforge.cli import main
from lmforge.config import ConfigError
from lmforge.recipes.runner import check_params  # registers the stage kinds
from lmforge.tokenizer import Tokenizer
from lmforge.tokenizer.extend import ExtendConfig
from lmforge.tokenizer.ops import TrainTokenizerConfig
from tests.cli_config import config_of


@pytest.fixture
def texts(tmp_path, corpus_texts):
    path = tmp_path / "t.jsonl"
    path.write_text("".join(json.dumps({"text": t}, ensure_ascii=False) + "\n" for t in corpus_texts[:60]),
                    encoding="utf-8")
    return path


def test_train_flag_key_value_and_stage_reach_the_sameconfig_of(texts, tmp_path):
    out = str(tmp_path / "run" / "tok")
    by_flag = config_of(["tokenizer", "train", "--input", str(texts), "--vocab-size", "700", "--type", "wordpiece",
                       "--chat-template", "solar", "--out", out])
    by_key = config_of(["tokenizer", "train", "vocab_size=700", "type=wordpiece", "--input", str(texts),
                      "chat_template=solar", "--out", out])
    stage = check_params("tokenizer", {"input": str(texts), "vocab_size": 700, "type": "wordpiece",
                                       "chat_template": "solar"}, "stages.tok", out_dir=tmp_path / "run" / "tok")
    assert isinstance(stage, TrainTokenizerConfig) and by_flag == by_key == stage
    with pytest.raises(ConfigError, match="(?s)type.*bytelevel-bpe"):
        config_of(["tokenizer", "train", "--input", str(texts), "--out", out, "type=bpe"])


def test_train_then_stats_from_the_command_line(texts, tmp_path, capsys):
    out = tmp_path / "tok"
    assert main(["tokenizer", "train", "--input", str(texts), "--vocab-size", "500", "--out", str(out)]) == 0
    assert "500 tokens" in capsys.readouterr().out and Tokenizer.from_dir(out).vocab_size == 500
    assert main(["tokenizer", "stats", str(out), "--input", str(texts), "--json", "max_chars=5000"]) == 0
    r = json.loads(capsys.readouterr().out)
    measured = sum(v["chars"] for k, v in r["this"].items() if k != "vocab_size")
    assert r["tokenizer"] == str(out) and 5000 <= measured < 5000 + max(map(len, texts.read_text().splitlines()))
    assert main(["tokenizer", "stats", str(tmp_path), "--input", str(texts)]) == 2
    assert "not a tokenizer folder" in capsys.readouterr().err


def test_extend_needs_one_source_of_pieces(trained, tmp_path):
    base = str(trained["bytelevel-bpe"][1])
    with pytest.raises(ConfigError, match="give either `add`"):
        config_of(["tokenizer", "extend", "--base", base, "--out", str(tmp_path / "x")])
    cfg = config_of(["tokenizer", "extend", "--base", base, "--add", base, "add_size=123", "--out", str(tmp_path / "x")])
    assert isinstance(cfg, ExtendConfig) and (cfg.add, cfg.add_size, cfg.train_on) == (base, 123, [])
    stage = check_params("tokenizer_extend", {"base": base, "add": base, "add_size": 123, "stats_on": base},
                         "stages.ext", out_dir=tmp_path / "x")
    assert ExtendConfig(**stage.model_dump(exclude={"stats_on"})) == cfg
