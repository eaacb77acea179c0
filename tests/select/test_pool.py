"""The instruction pool with junk and the random subset that controls an entropy selection."""

import json
from collections import Counter

import pytest

from lmforge.errors import UserError
from lmforge.select.pool import (NoisyPoolConfig, SubsetConfig, noisy_pool, part_counts, run_noisy_pool,
                                 run_subset)
from lmforge.synth.skills import english_number, number_skill


def _write(path, records):
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records), encoding="utf-8")
    return path


def _clean():
    other = [{"messages": [{"role": "user", "content": f"who are you? ({i})"},
                           {"role": "assistant", "content": "a model"}]} for i in range(5)]
    recs = number_skill(40, seed=3, numbers=range(20, 100)) + other
    return [{**r, "id": i} for i, r in enumerate(recs)]  # distinct records


def test_pool_keeps_every_clean_record_and_adds_each_junk_kind():
    clean = _clean()
    pool = noisy_pool(clean, {"shuffled": 7, "truncated": 5, "wrong_answer": 3}, seed=1)
    assert Counter(r["part"] for r in pool) == {"skill": 40, "other": 5, "shuffled": 7, "truncated": 5,
                                                "wrong_answer": 3}
    answers = {r["messages"][-1]["content"] for r in clean if "answer" in r}
    prompts = {r["messages"][0]["content"] for r in clean}
    for r in pool:
        reply, prompt = r["messages"][-1]["content"], r["messages"][0]["content"]
        assert prompt in prompts and r["messages"][-1]["role"] == "assistant"
        if r["part"] == "shuffled":
            assert any(sorted(reply) == sorted(a) for a in answers)
        if r["part"] == "truncated":
            assert any(a.startswith(reply) and len(reply) <= max(1, len(a) // 3) for a in answers)
        if r["part"] == "wrong_answer":  # another record's answer, never the prompt's own number
            assert reply in answers
    assert noisy_pool(clean, {"shuffled": 7}, seed=1) == noisy_pool(clean, {"shuffled": 7}, seed=1)


def test_wrong_answers_answer_another_number():
    recs = [r for r in number_skill(60, seed=5, numbers=range(20, 100)) if r["lang"] == "en"]
    pool = noisy_pool(recs, {"wrong_answer": 30}, seed=2)
    by_prompt = {r["messages"][0]["content"]: r["answer"] for r in recs}
    wrong = [r for r in pool if r["part"] == "wrong_answer"]
    # a different record's answer: wrong unless both records ask for the same number
    assert sum(r["messages"][-1]["content"] != by_prompt[r["messages"][0]["content"]] for r in wrong) >= 25
    assert english_number(45) == "forty-five"  # the skill the test numbers are read in


def test_junk_needs_skill_records(tmp_path):
    other = [{"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello"}]}] * 3
    with pytest.raises(UserError, match="junk is made from skill records"):
        noisy_pool(other, {"truncated": 1})
    assert len(noisy_pool(other, {})) == 3


def test_subset_is_as_large_as_the_selection_and_seeded(tmp_path):
    pool = _write(tmp_path / "clean.jsonl", _clean())
    parts = run_noisy_pool(NoisyPoolConfig(data=str(pool), out=str(tmp_path / "pool.jsonl"), shuffled=10))
    assert parts == {"skill": 40, "other": 5, "shuffled": 10}
    like = _write(tmp_path / "sel.jsonl", [{"x": i} for i in range(12)])
    cfg = SubsetConfig(data=str(tmp_path / "pool.jsonl"), like=str(like), out=str(tmp_path / "sub.jsonl"), seed=4)
    assert run_subset(cfg) == 12
    first = (tmp_path / "sub.jsonl").read_text()
    lines = first.splitlines()
    assert len(lines) == 12 and len(set(lines)) == 12  # without replacement (records are distinct)
    run_subset(cfg)
    assert (tmp_path / "sub.jsonl").read_text() == first
    assert sum(part_counts(tmp_path / "sub.jsonl").values()) == 12
    big = _write(tmp_path / "big.jsonl", [{"x": i} for i in range(100)])
    with pytest.raises(UserError, match="more than the 55"):
        run_subset(cfg.model_copy(update={"like": str(big)}))
