"""GSM8K-style answer extraction (lm-eval's strict `#### N` and flexible last-number filters) and
free-text multiple-choice extraction for chat models."""

from __future__ import annotations

import re

STRICT = re.compile(r"#### (\-?[0-9\.\,]+)")
FLEXIBLE = re.compile(r"(-?[$0-9.,]{2,})|(-?[0-9]+)")
STOP = ["Question:", "</s>", "<|im_end|>", "\n\n"]


def normalize_number(s: str) -> str:
    """Drop `$`, thousands commas and a trailing period so '$1,234.' equals '1234'."""
    s = s.replace(",", "").replace("$", "").rstrip(".")
    return s[:-2] if s.endswith(".0") else s


def extract_strict(text: str) -> str | None:
    m = STRICT.search(text)
    return normalize_number(m.group(1)) if m else None


def extract_flexible(text: str) -> str | None:
    """The last number in the text."""
    found = [a or b for a, b in FLEXIBLE.findall(text)]
    nums = [normalize_number(x) for x in found if any(ch.isdigit() for ch in x)]
    return nums[-1] if nums else None


def gold_answer(answer_field: str) -> str:
    """The reference number after `####` in a GSM8K answer."""
    got = extract_strict(answer_field)
    if got is None:
        raise ValueError(f"GSM8K answer has no '#### N': {answer_field[-60:]!r}")
    return got


def truncate(text: str, stops: list[str] = STOP) -> str:
    cut = min((i for i in (text.find(s) for s in stops) if i >= 0), default=len(text))
    return text[:cut]


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
