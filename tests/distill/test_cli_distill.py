"""`lmforge distill`: flags, key=value and the recipe stage reach the same config; the tokenizer
boundary; white-box on conversations and black-box through an in-process `lmforge serve`."""

from __future__ import annotations

import json

import pytest

from lmforge.cli import main
from lmforge.client import ChatClient
from lmforge.distill.run import DistillConfig
from lmforge.recipes.runner import check_params  # registers the kinds
from tests.cli_config import config_of
from tests.serve.conftest import start_server

CHAT = [{"messages": [{"role": "user", "content": q}, {"role": "assistant", "content": a}]}
        for q, a in [("Hello, how are you?", "I am fine."), ("你好", "你好！"), ("2+2?", "4")]]


def _yaml(tmp_path, teacher, student, extra: dict | None = None) -> str:
    (tmp_path / "chat.jsonl").write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in CHAT))
    cfg = {"out": str(tmp_path / "out"), "teacher": str(teacher), "model": str(student),
           "sft_data": {"files": [str(tmp_path / "chat.jsonl")], "max_len": 64},
           "train": {"max_steps": 2, "batch_size": 2, "device": "cpu", "lr": 1e-3}, **(extra or {})}
    path = tmp_path / "distill.yaml"
    path.write_text(json.dumps(cfg))
    return str(path)


def test_flag_override_and_stage_agree(tmp_path, base_dir):
    path = _yaml(tmp_path, base_dir, base_dir)
    by_flag = config_of(["distill", path, "--teacher", str(base_dir), "kd.divergence=jsd", "kd.beta=0.3",
                         "kd.temperature=2", "train.max_steps=7"])
    by_override = config_of(["distill", f"teacher={base_dir}", "kd.divergence=jsd", path, "kd.beta=0.3",
                             "train.max_steps=7", "kd.temperature=2"])
    assert by_flag == by_override
    assert (by_flag.kd.divergence, by_flag.kd.beta, by_flag.kd.temperature, by_flag.kd.gkd_beta()) == ("jsd", 0.3, 2.0, 0.3)
    spec = {k: v for k, v in by_flag.model_dump(by_alias=True).items() if k != "out"}
    staged = check_params("distill", spec, "stages.distill", out_dir=tmp_path / "run")
    assert isinstance(staged, DistillConfig)
    assert staged.kd == by_flag.kd and staged.teacher == by_flag.teacher and staged.train == by_flag.train
    assert staged.model.path == str(base_dir) and staged.out == str(tmp_path / "run")


def test_different_tokenizers_name_both_folders(tmp_path, base_dir, model_dir, capsys):
    assert main(["distill", _yaml(tmp_path, model_dir, base_dir)]) == 2
    err = capsys.readouterr().err
    assert "different tokenizers" in err and str(model_dir) in err and str(base_dir) in err
    assert "endpoint" in err and "Traceback" not in err
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("extra, words", [
    ({"kd": {"divergence": "jsd", "beta": 1.0}}, "kd.beta"),
    ({"teacher": None}, "endpoint"),
    ({"data": {"path": "/nowhere"}}, "not both"),
])
def test_bad_configs_are_clear_errors(tmp_path, base_dir, capsys, extra, words):
    assert main(["distill", _yaml(tmp_path, base_dir, base_dir, extra)]) == 2
    err = capsys.readouterr().err
    assert words in err and "Traceback" not in err


def test_white_box_on_conversations(tmp_path, base_dir):
    """Teacher and student share the tokenizer: the loop runs the KD objective (ce and kd logged,
    the student changes) and the folder records its teacher."""
    assert main(["distill", _yaml(tmp_path, base_dir, base_dir), "kd.alpha=0.5", "kd.temperature=2"]) == 0
    rows = [json.loads(x) for x in (tmp_path / "out" / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows] == [1, 2]
    # the student starts as the teacher: the divergence is 0 at step 1 and the loss is half the CE
    assert rows[0]["kd"] == pytest.approx(0.0, abs=1e-6) and rows[0]["loss"] == pytest.approx(rows[0]["ce"] / 2, rel=1e-5)
    assert rows[1]["kd"] > 0
    meta = json.loads((tmp_path / "out" / "model" / "lmforge.json").read_text())["lineage"][-1]
    assert meta["created_by"] == "lmforge distill" and meta["details"]["distill"]["teacher"] == str(base_dir)
    assert meta["details"]["distill"]["alpha"] == 0.5


def test_black_box_through_lmforge_serve(tmp_path, base_dir, model_dir):
    """A teacher with another tokenizer, served in-process: its answers become the SFT data and
    the student is fine-tuned on them by the SFT path."""
    live, stop = start_server(model_dir, api_key=None, max_tokens_cap=16)
    try:
        path = _yaml(tmp_path, model_dir, base_dir, {"endpoint": {"url": live.url, "max_tokens": 12}})
        assert main(["distill", path]) == 0
        expected = [ChatClient(live.url).chat(r["messages"][:1], max_tokens=12, temperature=0.0) for r in CHAT]
    finally:
        stop()
    got = [json.loads(x) for x in (tmp_path / "out" / "teacher.jsonl").read_text().splitlines()]
    kept = [(r, a) for r, a in zip(CHAT, expected) if a.strip()]
    assert kept and [g["messages"] for g in got] == [r["messages"][:1] + [{"role": "assistant", "content": a}]
                                                     for r, a in kept]
    meta = json.loads((tmp_path / "out" / "model" / "lmforge.json").read_text())["lineage"][-1]
    assert meta["created_by"] == "lmforge sft" and meta["details"]["steps"] == 2
    assert meta["details"]["data"]["kept"] == len(kept)
