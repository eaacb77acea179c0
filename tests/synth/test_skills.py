import pytest

from lmforge.eval.answers import exact_match
from lmforge.synth.skills import chinese_number, english_number, number_preferences, number_skill


@pytest.mark.parametrize("n,zh,en", [(0, "零", "zero"), (7, "七", "seven"), (10, "十", "ten"),
                                     (13, "十三", "thirteen"), (40, "四十", "forty"),
                                     (73, "七十三", "seventy-three"), (99, "九十九", "ninety-nine")])
def test_number_readings(n, zh, en):
    assert chinese_number(n) == zh and english_number(n) == en


def test_records_and_pairs_are_consistent():
    recs = number_skill(50, seed=1)
    assert {r["lang"] for r in recs} == {"zh", "en"}
    assert all(r["messages"][1]["content"] == r["answer"] for r in recs)
    pairs = number_preferences(50, seed=1)
    assert all(p["chosen"] != p["rejected"] for p in pairs)
    assert exact_match(" 七十三。", "七十三") and not exact_match("七十二", "七十三")
    with pytest.raises(ValueError):
        chinese_number(100)
