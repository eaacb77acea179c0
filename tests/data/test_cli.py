"""`lmforge data ...` derived from the data operations' configs: a flag, the same key=value and
the recipe stage's field reach the same config field; old flag spellings keep working."""

from __future__ import annotations

import json

import pytest

from lmforge.cli import main
from lmforge.data.ops import CleanConfig, CleanOptions
from lmforge.recipes.runner import check_params  # registers the stage kinds
from lmforge.tokens.packing import PackConfig
from tests.cli_config import config_of


@pytest.fixture
def raw(tmp_path, real_docs):
    d = tmp_path / "raw"
    d.mkdir()
    for name, docs in real_docs.items():
        (d / f"{name}.jsonl").write_text("".join(json.dumps({"body": t}, ensure_ascii=False) + "\n"
                                                 for t in docs[:20]), encoding="utf-8")
    return d


def test_clean_flag_key_value_and_corpus_stage_reach_the_same_fields(raw, tmp_path):
    base = ["data", "clean", "--input", str(raw), "--out", str(tmp_path / "c")]
    by_flag = config_of(base + ["--threshold", "0.6", "--no-dedup", "--field", "body"])
    by_key = config_of(["data", "clean", "threshold=0.6", "dedup=false", *base[2:], "field=body"])
    assert by_flag == by_key and isinstance(by_flag, CleanConfig)
    assert (by_flag.threshold, by_flag.dedup, by_flag.field, by_flag.input) == (0.6, False, "body", [str(raw)])
    stage = check_params("corpus", {"max_chars": 1000, "clean": {"threshold": 0.6, "dedup": False}},
                         "stages.corpus", out_dir=tmp_path / "run")
    assert stage.clean == CleanOptions(threshold=0.6, dedup=False)
    assert stage.clean.model_dump() == {k: v for k, v in by_flag.model_dump().items()
                                        if k in CleanOptions.model_fields}


def test_pack_flag_key_value_and_pack_stage_reach_the_sameconfig_of(raw, tmp_path):
    tok = tmp_path / "tok"
    tok.mkdir()
    (tok / "tokenizer.json").write_text("{}")  # checked for existence only (not read here)
    common = ["--input", str(raw), "--tokenizer", str(tok), "--out", str(tmp_path / "run" / "p")]
    by_flag = config_of(["data", "pack", *common, "--val-fraction", "0.05", "--txt-mode", "line",
                       "--workers", "2"])
    by_key = config_of(["data", "pack", "val_fraction=0.05", *common, "txt_mode=line", "workers=2"])
    stage = check_params("pack", {"input": str(raw), "tokenizer": str(tok), "val_fraction": 0.05,
                                  "txt_mode": "line", "workers": 2}, "stages.p", out_dir=tmp_path / "run" / "p")
    assert isinstance(stage, PackConfig) and by_flag == by_key == stage
    assert (stage.val_fraction, stage.txt_mode, stage.workers) == (0.05, "line", 2)


def test_clean_dedup_pack_run_from_the_command_line(raw, tmp_path, capsys):
    from lmforge.tokenizer.train import train_tokenizer

    steps = tmp_path / "steps.yaml"
    steps.write_text("steps:\n  - min_length: {min_units: 5}\n")
    assert main(["data", "clean", "--input", str(raw), "--field", "body", "--steps", str(steps),
                 "--out", str(tmp_path / "clean")]) == 0
    report = json.loads((tmp_path / "clean" / "report.json").read_text())
    assert set(report["steps"]["en"]) == {"min_length"} and report["sources"]["zh"]["docs_in"] == 20
    assert main(["data", "dedup", "--input", str(raw / "zh.jsonl"), str(raw / "zh.jsonl"), "--field", "body",
                 "--source", "web", "--out", str(tmp_path / "dedup")]) == 0
    dedup = json.loads((tmp_path / "dedup" / "report.json").read_text())
    assert dedup["sources"]["web"]["docs_in"] == 40 and dedup["sources"]["web"]["duplicates"] >= 20
    assert "steps" in dedup and dedup["steps"]["web"] == {}  # no cleaning steps
    texts = [json.loads(x)["text"] for x in (tmp_path / "clean" / "en.jsonl").read_text().splitlines()]
    train_tokenizer(texts, 300, tmp_path / "tok")
    capsys.readouterr()
    assert main(["data", "pack", "--input", str(tmp_path / "clean"), "--tokenizer", str(tmp_path / "tok"),
                 "--out", str(tmp_path / "packed"), "val_fraction=0.2", "--workers", "1"]) == 0
    shown = json.loads(capsys.readouterr().out)
    manifest = json.loads((tmp_path / "packed" / "manifest.json").read_text())
    assert shown == manifest["sources"] and set(shown) == {"en", "zh"}


def test_demo_corpus_and_errors_name_the_key(tmp_path, capsys):
    assert main(["data", "demo-corpus", "--out", str(tmp_path / "d"), "max_chars=20000", "--zh-share", "0.3"]) == 0
    lines = (tmp_path / "d" / "zh.jsonl").read_text(encoding="utf-8").splitlines()
    zh_chars = sum(len(json.loads(x)["text"]) for x in lines)
    assert 3000 < zh_chars < 9000  # about 30% of 20,000
    assert main(["data", "clean", "--input", str(tmp_path / "nope"), "--out", str(tmp_path / "c")]) == 2
    err = capsys.readouterr().err
    assert "input" in err and "nope: no such file" in err and "Traceback" not in err
    assert main(["data", "clean", "--input", str(tmp_path / "d"), "--out", str(tmp_path / "c"),
                 "steps=[{strip_htm: {}}]"]) == 2
    assert "unknown step 'strip_htm'" in capsys.readouterr().err
