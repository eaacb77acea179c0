"""Reading answers out of generated text, shared by the eval kinds and the skill tests: the
chosen letter of a free-text multiple-choice reply, and exact match."""

from __future__ import annotations

import re
from typing import Sequence

from lmforge.eval.task import LETTERS

MC_PATTERNS = [
    re.compile(r"答案(?:是|为|：|:)\s*[（(]?([A-J])"),
    re.compile(r"([A-J])\s*选项(?:是)?正确"),
    re.compile(r"(?:answer is|Answer:)\s*\(?([A-J])\b"),
    re.compile(r"正确(?:答案|选项)(?:是|为)?\s*[（(]?([A-J])"),
    re.compile(r"^\s*[（(]?([A-J])(?:[).．。:：,，\s]|$)"),
]


def extract_choice(text: str) -> str | None:
    """The chosen letter in a chat model's free-text answer (first matching pattern wins)."""
    for pat in MC_PATTERNS:
        m = pat.search(text)
        if m:
            return m.group(1)
    return None


def choice_from_answer(answer: str, choices: Sequence[str]) -> int | None:
    """The option a free-text answer picks: the letter by the regex cascade (答案是X, X选项正确,
    "The answer is X", a leading letter ...), else an answer that is exactly one option's text."""
    letter = extract_choice(answer)
    if letter is not None and LETTERS.index(letter) < len(choices):
        return LETTERS.index(letter)
    text = answer.strip().rstrip("。.").strip()
    matches = [i for i, c in enumerate(choices) if c.strip() == text]
    return matches[0] if len(matches) == 1 else None


def _clean(s: str) -> str:
    return s.strip().rstrip("。.!！").strip().lower()


def exact_match(prediction: str, answer: str) -> bool:
    """Answer equality after trimming whitespace and trailing punctuation, ignoring case."""
    return _clean(prediction) == _clean(answer)
