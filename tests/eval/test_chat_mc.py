"""Multiple choice answered in free text by chat models."""

from __future__ import annotations

import json

import pytest

from lmforge.cli import main
from lmforge.eval import generation
from lmforge.eval.answers import choice_from_answer
from lmforge.eval.generation import evaluate_mc_chat
from lmforge.eval.task import MCItem, MCTask

CHOICES = ["四十二", "二十四", "十四", "四十"]


@pytest.mark.parametrize("reply,want", [
    ("答案是C。", 2), ("B选项正确", 1), ("The answer is D", 3), ("A. 四十二", 0),
    ("四十二。", 0),            # the option's own text
    ("四十", 3),
    ("我不知道", None), ("答案是F", None),  # no such option
])
def test_choice_from_answer(reply, want):
    assert choice_from_answer(reply, CHOICES) == want


def test_scoring_and_unparsed(monkeypatch):
    items = [MCItem("q1", CHOICES, 0, "s1"), MCItem("q2", CHOICES, 1, "s1"), MCItem("q3", CHOICES, 2, "s2")]
    task = MCTask("t", items, chinese=True)
    monkeypatch.setattr(generation, "chat_answers", lambda m, t, convs, n: ["四十二", "答案是A", "嗯"])
    r = evaluate_mc_chat(None, None, task)
    assert r["n"] == 3 and r["acc"] == pytest.approx(1 / 3) and r["unparsed"] == pytest.approx(1 / 3)
    assert r["subjects"] == {"s1": {"n": 2, "acc": 0.5}, "s2": {"n": 1, "acc": 0.0}}


def test_chat_cli_runs_a_real_model(tmp_path, model_dir, capsys):
    from tests.export.conftest import make_model_dir

    folder = tmp_path / "ceval" / "val"
    folder.mkdir(parents=True)
    (folder / "math_val.csv").write_text("id,question,A,B,C,D,answer,explanation\n"
                                         "0,1+1=?,1,2,3,4,B,\n1,2+2=?,4,5,6,7,A,\n")
    args = ["eval", "mc", "--tasks", f"ceval={tmp_path / 'ceval'}", "--chat", "--out", str(tmp_path / "res")]
    assert main(args + ["--model", str(model_dir)]) == 2  # this one has no chat template
    assert "has no chat_template" in capsys.readouterr().err
    chat_model = make_model_dir(tmp_path / "chat", steps=2)
    assert main(args + ["--model", str(chat_model)]) == 0
    assert "answered in free text" in capsys.readouterr().out
    chat = json.loads((tmp_path / "res" / "results.json").read_text())["results"]["ceval"]["chat"]
    assert chat["n"] == 2 and 0 <= chat["acc"] <= 1 and 0 <= chat["unparsed"] <= 1
