"""`lmforge sft-data ...` and the `sft_data` stage derived from lmforge/sft/prepare.py's configs."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from lmforge.cli import main
from lmforge.config import ConfigError
from lmforge.recipes.runner import check_params  # registers the stage kinds
from lmforge.sft.prepare import SFTMixtureConfig, run_sft_mixture
from tests.cli_config import config_of

EXAM = Path(__file__).resolve().parents[2] / "lmforge" / "recipes" / "builtin" / "data" / "exam-sample.jsonl"


def _lines(path):
    return [json.loads(x) for x in Path(path).read_text(encoding="utf-8").splitlines()]


def test_old_flags_and_key_values_reach_the_same_fields(tmp_path):
    src = tmp_path / "a.jsonl"
    src.write_text('{"prompt": "你好", "response": "你好！"}\n')
    by_flag = config_of(["sft-data", "filter-length", str(src), str(tmp_path / "o.jsonl"), "--tokenizer", "t",
                       "--min", "3", "--max", "9"])
    by_key = config_of(["sft-data", "filter-length", "min_tokens=3", str(src), str(tmp_path / "o.jsonl"),
                      "tokenizer=t", "max_tokens=9"])
    assert by_flag == by_key and (by_flag.min_tokens, by_flag.max_tokens) == (3, 9)
    with pytest.raises(ConfigError, match="(?s)inputs.*x.jsonl:heavy: expected FILE or FILE:WEIGHT"):
        config_of(["sft-data", "mix", f"{tmp_path}/x.jsonl:heavy", "--total", "3", "--out", "o"])


def test_filter_mix_exam_self_cognition_from_the_command_line(tmp_path):
    sc = tmp_path / "sc.jsonl"
    assert main(["sft-data", "self-cognition", str(sc), "--name", "Forge", "--author", "us", "count=20"]) == 0
    assert len(_lines(sc)) == 20
    assert main(["sft-data", "filter-lang", str(sc), str(tmp_path / "zh.jsonl"), "--lang", "zh"]) == 0
    zh = _lines(tmp_path / "zh.jsonl")
    assert 0 < len(zh) < 20 and all(r["lang"] == "zh" for r in zh)
    assert main(["sft-data", "exam", str(EXAM), str(tmp_path / "exam")]) == 0
    cot = _lines(tmp_path / "exam" / "cot.jsonl")
    assert len(cot) == len(_lines(EXAM)) and all("答案为" in r["response"] for r in cot)
    assert main(["sft-data", "mix", f"{sc}:3", f"{tmp_path / 'exam' / 'cot.jsonl'}:1", "--total", "8",
                 "--out", str(tmp_path / "mix.jsonl"), "seed=1"]) == 0
    mixed = _lines(tmp_path / "mix.jsonl")
    assert len(mixed) == 8 and sum("答案为" in r.get("response", "") for r in mixed) == 2


def test_sft_data_stage_is_the_mixtureconfig_of(tmp_path):
    params = {"skill_count": 40, "skill_test": 10, "pairs": 5, "lang": "zh", "exam": [str(EXAM)],
              "self_cognition": {"name": "Forge", "author": "us", "count": 10}}
    stage = check_params("sft_data", params, "stages.sft_data", out_dir=tmp_path / "run")
    assert isinstance(stage, SFTMixtureConfig) and stage.self_cognition.count == 10
    made = run_sft_mixture(stage)
    train = _lines(tmp_path / "run" / "train.jsonl")
    assert made.train == len(train) == sum(made.parts.values()) and made.skill_test == 10
    assert set(made.parts) == {"number skill", "self-cognition", "exam (non-CoT)", "exam (CoT)"}
    assert made.parts["self-cognition"] < 10  # the English half is filtered out
    assert run_sft_mixture(stage).parts == made.parts and _lines(tmp_path / "run" / "train.jsonl") == train


def test_a_bad_record_among_good_ones_is_skipped_counted_and_named(tmp_path, capsys):
    good = '{"prompt": "hello there", "response": "hi, how can I help?"}'
    src = tmp_path / "in.jsonl"
    pair = '{"prompt": "p", "chosen": 3, "rejected": "r"}'
    src.write_text("".join(line + "\n" for line in (good, '{"messages": "a string"}', good, pair)))
    assert main(["sft-data", "filter-lang", str(src), str(tmp_path / "en.jsonl"), "--lang", "en"]) == 0
    out, err = capsys.readouterr()
    assert _lines(tmp_path / "en.jsonl") == [json.loads(good)] * 2
    assert '"kept": 2' in out and "wrote 2 of 2 records" in out
    assert f"{src}:2: 'messages' must be a list" in err and f"{src}:4: 'chosen' must be text" in err
