"""Rule rewards on planted cases: exact match, regex/format, GSM8K numeric answers, weights."""

import pytest

from lmforge.rl.rewards import RewardSet, RuleReward, exact_reward, numeric_reward


@pytest.mark.parametrize("completion,reference,want", [
    ("七十二", "七十二", 1.0), ("  Seventy-two. ", "seventy-two", 1.0), ("seventy", "seventy-two", 0.0),
    ("", "x", 0.0)])
def test_exact(completion, reference, want):
    assert exact_reward(completion, reference) == want


@pytest.mark.parametrize("completion,reference,want", [
    ("48 + 24 = 72\n#### 72", "#### 72", 1.0),
    ("so the answer is\n####72", "72", 1.0),
    ("#### 1,234", "1234", 1.0),
    ("#### 2.50", "#### 2.5", 1.0),
    ("#### -3", "-3", 1.0),
    ("#### 71", "#### 72", 0.0),
    ("the answer is 72", "#### 72", 0.0),  # no `####`: the format is part of the task
    ("#### 72", "no number here", 0.0),
    ("#### 7 then 72", "72", 0.0),  # the first `####` answer counts
])
def test_numeric_gsm8k(completion, reference, want):
    assert numeric_reward(completion, reference) == want


def test_regex_search_and_full_match():
    fmt = RuleReward(kind="regex", pattern=r"<answer>\d+</answer>").function()
    assert fmt("think... <answer>12</answer>", "") == 1.0 and fmt("<answer>x</answer>", "") == 0.0
    whole = RuleReward(kind="regex", pattern=r"\d+", full_match=True).function()
    assert whole(" 42 ", "") == 1.0 and whole("42 apples", "") == 0.0


def test_weighted_sum_and_parts():
    rs = RewardSet([RuleReward(kind="numeric", weight=1.0),
                    RuleReward(kind="regex", pattern="####", weight=0.25),
                    RuleReward(kind="regex", pattern=r"^\S", weight=0.5)])
    total, parts = rs.score(["#### 5", "#### 6", "five"], ["5", "5", "5"])
    assert total == [1.75, 0.75, 0.5]
    assert parts == {"numeric": [1.0, 0.0, 0.0], "regex1": [1.0, 1.0, 0.0], "regex2": [1.0, 1.0, 1.0]}


@pytest.mark.parametrize("spec,msg", [({"kind": "regex"}, "needs `pattern`"),
                                      ({"kind": "regex", "pattern": "("}, "not a valid regex"),
                                      ({"kind": "exact", "pattern": "x"}, "only for kind regex"),
                                      ({"kind": "judge"}, "kind")])
def test_bad_specs_are_named(spec, msg):
    with pytest.raises(ValueError, match=msg):
        RuleReward(**spec)
