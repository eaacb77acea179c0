"""Synthetic bilingual skills with a known answer, to show that SFT/DPO teach something.

Number reading: "73" -> "七十三" (zh) or "seventy-three" (en), in both prompt languages.
"""

from __future__ import annotations

import random
import re
from typing import Any

_ZH_DIGITS = "零一二三四五六七八九"
_EN_ONES = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine",
            "ten", "eleven", "twelve", "thirteen", "fourteen", "fifteen", "sixteen",
            "seventeen", "eighteen", "nineteen"]
_EN_TENS = ["", "", "twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety"]


def chinese_number(n: int) -> str:
    """0..99 in Chinese numerals: 10 -> 十, 73 -> 七十三."""
    if not 0 <= n < 100:
        raise ValueError(f"chinese_number handles 0..99, got {n}")
    tens, ones = divmod(n, 10)
    if tens == 0:
        return _ZH_DIGITS[ones]
    head = "" if tens == 1 else _ZH_DIGITS[tens]
    return head + "十" + (_ZH_DIGITS[ones] if ones else "")


def english_number(n: int) -> str:
    """0..99 in English words: 73 -> seventy-three."""
    if not 0 <= n < 100:
        raise ValueError(f"english_number handles 0..99, got {n}")
    if n < 20:
        return _EN_ONES[n]
    tens, ones = divmod(n, 10)
    return _EN_TENS[tens] + (f"-{_EN_ONES[ones]}" if ones else "")


_TEMPLATES = [
    ("zh", "用中文写出数字 {n}。", chinese_number),
    ("en", "Write the number {n} in English words.", english_number),
]


def _question(lang: str, template: str, fn, n: int) -> dict[str, Any]:
    return {"messages": [{"role": "user", "content": template.format(n=n)}, {"role": "assistant", "content": fn(n)}],
            "answer": fn(n), "lang": lang}


def number_skill(count: int, seed: int = 0, numbers: range = range(100)) -> list[dict[str, Any]]:
    """`count` SFT records {"messages": [...], "answer": ...} drawn from `numbers`."""
    rng = random.Random(seed)
    out = []
    for _ in range(count):
        lang, template, fn = rng.choice(_TEMPLATES)
        out.append(_question(lang, template, fn, rng.choice(list(numbers))))
    return out


def number_questions(numbers: list[int], seed: int = 0) -> list[dict[str, Any]]:
    """Each number asked once in each language, in a shuffled order: a test (or validation, or RL
    prompt) set without repeated questions."""
    out = [_question(lang, template, fn, n) for n in numbers for lang, template, fn in _TEMPLATES]
    random.Random(seed).shuffle(out)
    return out


def number_preferences(count: int, seed: int = 0, numbers: range = range(100)) -> list[dict[str, Any]]:
    """DPO pairs: the right reading is chosen, a neighbour's reading rejected."""
    rng = random.Random(seed)
    out = []
    for rec in number_skill(count, seed, numbers):
        prompt = rec["messages"][0]["content"]
        n = int(re.search(r"\d+", prompt).group())
        fn = chinese_number if rec["lang"] == "zh" else english_number
        wrong = (n + rng.choice([-11, -10, -1, 1, 10, 11])) % 100
        out.append({"prompt": prompt, "chosen": fn(n), "rejected": fn(wrong)})
    return out


def numbers_asked(records: list[dict[str, Any]]) -> set[int]:
    """The numbers the user turns of skill records ask about (e.g. a test file's held-out numbers)."""
    return {int(m) for r in records for msg in r["messages"] if msg["role"] == "user"
            for m in re.findall(r"\d+", msg["content"])}


def number_dialogues(count: int, seed: int = 0, numbers: range | list[int] = range(100),
                     others: list[dict[str, Any]] = (), other_share: float = 0.3) -> list[dict[str, Any]]:
    """`count` two-turn SFT conversations: two number-reading questions (each in either language)
    and their answers in one chat; each turn is instead one of `others` (e.g. self-cognition
    chats, `messages` records) with probability `other_share`. `answer` is the second reply when
    it is a number reading; the first reply is `first_answer`."""
    rng = random.Random(seed)
    firsts, seconds = number_skill(count, seed * 7919 + 1, numbers), number_skill(count, seed * 7919 + 2, numbers)

    def pick(rec: dict[str, Any]) -> dict[str, Any]:
        return rng.choice(others) if others and rng.random() < other_share else rec

    return [second_turn(pick(a), pick(b)) for a, b in zip(firsts, seconds)]


def second_turn(first: dict[str, Any], second: dict[str, Any]) -> dict[str, Any]:
    """`second`'s chat asked as the next turns of `first`'s (whose replies are the reference ones)."""
    out = {"messages": first["messages"] + second["messages"], "first_answer": first["messages"][-1]["content"],
           "lang": second.get("lang")}
    if "answer" in second:
        out["answer"] = second["answer"]
    return out


def two_turn_test(test: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The test's questions each asked as the second turn, after the next record's question and
    reference answer: first-turn and second-turn exact match are then on the same questions."""
    return [second_turn(test[(i + 1) % len(test)], rec) for i, rec in enumerate(test)]


def skill_prompts(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """RL prompts: each distinct skill question (the chat before the last reply) with its answer."""
    seen, out = set(), []
    for r in records:
        if "answer" not in r:
            continue
        prompt = r["messages"][:-1]
        key = repr(prompt)
        if key not in seen:
            seen.add(key)
            out.append({"prompt": prompt, "answer": r["answer"]})
    return out
