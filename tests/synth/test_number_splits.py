"""The sft_data stage's number splits: test, validation and RL-only numbers never reach SFT or DPO."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from lmforge.errors import UserError
from lmforge.recipes.runner import check_params  # registers the stage kinds
from lmforge.recipes.stages.data import sft_data
from lmforge.sft.data import to_messages
from lmforge.sft.prepare import SFTMixtureConfig, split_numbers
from lmforge.synth.skills import numbers_asked


def _lines(path):
    return [json.loads(x) for x in Path(path).read_text(encoding="utf-8").splitlines()]


def test_splits_are_disjoint_and_the_test_does_not_depend_on_the_others():
    base = split_numbers(SFTMixtureConfig(out="x", skill_test=40))
    more = split_numbers(SFTMixtureConfig(out="x", skill_test=40, skill_val=30, rl_numbers=12))
    assert more["test"] == base["test"] and len(more["test"]) == 20
    assert (len(more["val"]), len(more["rl"]), len(more["train"])) == (15, 12, 53)
    assert sorted(n for s in more.values() for n in s) == list(range(100))
    assert base["val"] == base["rl"] == [] and len(base["train"]) == 80
    with pytest.raises(UserError, match="fewer than 20 of the 100 numbers"):
        split_numbers(SFTMixtureConfig(out="x", skill_test=50, skill_val=50, rl_numbers=40))


def _taught(out: Path) -> set[int]:
    """The numbers SFT's files ask about (self-cognition records are prompt/response)."""
    return numbers_asked([{"messages": to_messages(r)} for f in ("train.jsonl", "dialogues.jsonl")
                          for r in _lines(out / f)])


def _stage(tmp_path, **over):
    params = {"skill_count": 200, "skill_test": 16, "skill_val": 12, "pairs": 30, "dialogues": 20,
              "self_cognition": {"name": "Forge", "author": "us", "count": 10}, **over}
    p = check_params("sft_data", params, "stages.sft_data", out_dir=tmp_path)
    out, summary = sft_data(p, None)
    return Path(out), summary


def test_rl_only_numbers_are_prompts_without_demonstrations(tmp_path):
    out, summary = _stage(tmp_path, rl_numbers=10)
    test, val = _lines(out / "skill_test.jsonl"), _lines(out / "skill_val.jsonl")
    assert len(test) == 16 and len({r["messages"][0]["content"] for r in test}) == 16  # no repeated question
    rl = _lines(out / "rl_prompts.jsonl")
    rl_numbers = {int(n) for p in rl for n in re.findall(r"\d+", p["prompt"][-1]["content"])}
    taught = _taught(out)
    dpo = {int(n) for p in _lines(out / "pairs.jsonl") for n in re.findall(r"\d+", p["prompt"])}
    held = numbers_asked(test) | numbers_asked(val)
    assert len(rl_numbers) == 10 and not rl_numbers & (taught | dpo | held)
    assert not held & (taught | dpo) and len(numbers_asked(val)) == 6
    assert len(rl) == summary["rl_prompts"] == 40  # 10 numbers x 2 languages, alone and as a second turn
    seconds = [p for p in rl if len(p["prompt"]) == 3]
    assert len(seconds) == 20 and numbers_asked([{"messages": p["prompt"][:1]} for p in seconds]) <= taught
    assert len(_lines(out / "skill_val_2turn.jsonl")) == 12


def test_without_rl_numbers_rl_prompts_are_the_taught_questions(tmp_path):
    out, _ = _stage(tmp_path)
    rl = _lines(out / "rl_prompts.jsonl")
    assert numbers_asked([{"messages": p["prompt"]} for p in rl]) == _taught(out)
