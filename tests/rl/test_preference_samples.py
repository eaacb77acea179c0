"""Preference pairs from a policy's own samples (the `preference_samples` stage) and the toy
pairs' rejected kinds: what a reward model must learn to rank below the right reading."""

import json

from lmforge.rl.config import PromptData, Sampling
from lmforge.rl.preference_samples import PreferenceSamplesConfig, _pairs, run_preference_samples
from lmforge.rl.rewards import RuleReward
from lmforge.rl.toydata import RLHFDataConfig, preference_pairs, run_rlhf_data

MSG = [{"role": "user", "content": "Write the number 6 in English words."}]


def test_the_best_is_paired_with_the_lowest_distinct_others():
    candidates, scores = ["seve", "six", "", "seve", "nine", "six"], [0.0, 1.0, -1.0, 0.0, 0.0, 1.0]
    pairs = _pairs(MSG, candidates, scores, n=2)
    assert [(p["chosen"], p["rejected"], p["margin"]) for p in pairs] == [("six", "", 2.0), ("six", "seve", 1.0)]
    assert len(_pairs(MSG, candidates, scores, n=8)) == 3  # "", "seve", "nine": each distinct text once
    assert _pairs(MSG, ["a", "b"], [1.0, 1.0], n=1) == []  # a tie says nothing


def test_pairs_from_a_tiny_policy_judged_by_exact_match(tmp_path, base_dir):
    prompts = tmp_path / "prompts.jsonl"
    prompts.write_text("".join(json.dumps({"prompt": f"Write {n}.", "answer": str(n)}) + "\n" for n in range(6)))
    cfg = PreferenceSamplesConfig(out=str(tmp_path / "out"), model=str(base_dir), prompts=PromptData(files=[str(prompts)]),
                                  rewards=[RuleReward(kind="exact")], k=4, pairs_per_prompt=2,
                                  sampling=Sampling(max_new_tokens=4))
    r = run_preference_samples(cfg)
    rows = [json.loads(line) for line in (tmp_path / "out" / "pairs.jsonl").read_text().splitlines()]
    # an untrained model never writes the digit; the reference competes, so every prompt pairs it
    # against its two lowest distinct samples (all scored 0)
    assert r.prompts == 6 and r.ties == 0 and r.pairs == len(rows) and 6 <= len(rows) <= 12 and r.mean_reward == 0.0
    for row in rows:
        n = row["prompt"][0]["content"].removeprefix("Write ").rstrip(".")
        assert row["chosen"] == n and row["rejected"] != n and row["margin"] == 1.0
    assert json.loads((tmp_path / "out" / "stats.json").read_text())["pairs"] == len(rows)
    alone = cfg.model_copy(update={"reference_competes": False, "out": str(tmp_path / "alone")})
    assert run_preference_samples(alone).pairs == 0  # all samples wrong: all tie


def test_toy_pairs_reject_each_kind_in_turn(tmp_path):
    kinds = ["neighbour", "other_language", "empty", "truncated"]
    pairs = preference_pairs(8, seed=0, numbers=10, rejected=kinds)
    for i, p in enumerate(pairs):
        kind, zh = kinds[i % 4], p["prompt"].startswith("用中文")
        assert p["chosen"] != p["rejected"]
        if kind == "other_language":
            assert all(ord(c) < 128 for c in p["rejected"]) == zh
        if kind == "empty":
            assert p["rejected"] == ""
        if kind == "truncated" and len(p["chosen"]) > 1:
            assert p["chosen"].startswith(p["rejected"]) and len(p["rejected"]) < len(p["chosen"])
    run_rlhf_data(RLHFDataConfig(out=str(tmp_path), numbers=10, test=25))
    test = [json.loads(line) for line in (tmp_path / "test.jsonl").read_text().splitlines()]
    asked = [t["messages"][0]["content"] for t in test]
    assert len(asked) == 25 and len(set(asked[:20])) == 20 and asked[20:] == asked[:5]  # every question once, then again
