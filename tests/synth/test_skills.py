import pytest

from lmforge.eval.answers import exact_match
from lmforge.synth.skills import (
    chinese_number,
    english_number,
    number_dialogues,
    number_preferences,
    number_questions,
    number_skill,
    numbers_asked,
    skill_prompts,
    two_turn_test,
)


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


def test_two_turn_chats_ask_only_the_given_numbers():
    train = [n for n in range(100) if n % 5]
    chats = number_dialogues(40, seed=3, numbers=train)
    assert len(chats) == 40 and numbers_asked(chats) <= set(train)
    for c in chats:
        roles = [m["role"] for m in c["messages"]]
        assert roles == ["user", "assistant", "user", "assistant"]
        assert c["messages"][1]["content"] == c["first_answer"] and c["messages"][3]["content"] == c["answer"]
    assert {c["lang"] for c in chats} == {"zh", "en"}
    # both turns vary on their own: some chats switch language between the turns
    assert any(("English" in c["messages"][0]["content"]) != ("English" in c["messages"][2]["content"]) for c in chats)
    who = [{"messages": [{"role": "user", "content": "Who are you?"}, {"role": "assistant", "content": "me"}]}]
    mixed = number_dialogues(200, seed=3, numbers=train, others=who)
    firsts = [c for c in mixed if c["messages"][0]["content"] == "Who are you?"]
    seconds = [c for c in mixed if c["messages"][2]["content"] == "Who are you?"]
    assert 30 < len(firsts) < 90 and 30 < len(seconds) < 90  # about 30% of each turn
    assert all("answer" not in c for c in seconds) and all(c["first_answer"] == "me" for c in firsts)


def test_two_turn_test_asks_the_same_questions_second():
    test = number_skill(6, seed=4, numbers=[1, 2, 3])
    two = two_turn_test(test)
    assert [t["messages"][2:] for t in two] == [r["messages"] for r in test]
    assert [t["answer"] for t in two] == [r["answer"] for r in test]
    assert [t["messages"][:2] for t in two] == [r["messages"] for r in test[1:] + test[:1]]


def test_skill_prompts_are_distinct_questions_with_answers():
    recs = number_skill(200, seed=5, numbers=[7, 8]) + [{"messages": [{"role": "user", "content": "who?"},
                                                                       {"role": "assistant", "content": "me"}]}]
    prompts = skill_prompts(recs + number_dialogues(3, seed=1, numbers=[9]))
    singles = [p for p in prompts if len(p["prompt"]) == 1]
    assert len(singles) == 4  # 2 numbers x 2 languages, each once; the record without an answer left out
    assert all(p["answer"] in (chinese_number(n) for n in (7, 8)) or p["answer"] in (english_number(n) for n in (7, 8))
               for p in singles)
    assert all(len(p["prompt"]) == 3 and p["prompt"][-1]["role"] == "user" for p in prompts if p not in singles)


def test_number_questions_ask_each_number_once_per_language():
    qs = number_questions([3, 41, 88], seed=2)
    asked = sorted((r["lang"], r["messages"][0]["content"]) for r in qs)
    assert len(qs) == 6 and len(set(asked)) == 6 and numbers_asked(qs) == {3, 41, 88}
    assert sorted(r["answer"] for r in qs) == sorted([chinese_number(n) for n in (3, 41, 88)]
                                                     + [english_number(n) for n in (3, 41, 88)])
    assert number_questions([3, 41, 88], seed=2) == qs and number_questions([3, 41, 88], seed=5) != qs
