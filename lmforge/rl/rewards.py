"""Rule rewards for RL (Ziya's rule-based rewards): exact match against the reference answer,
a regex / format check, and a numeric-answer check as in GSM8K (`#### N`); combined with weights."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from lmforge.eval.answers import exact_match

RewardFn = Callable[[str, str], float]  # (completion text, reference answer) -> reward
_GSM8K = re.compile(r"####\s*(-?[\d,]*\.?\d+)")
_NUMBER = re.compile(r"-?[\d,]*\.?\d+")


def _number(text: str) -> float | None:
    """The answer number of a text: after `#### ` when present (GSM8K), else the last number."""
    m = _GSM8K.search(text)
    found = m.group(1) if m else (_NUMBER.findall(text) or [None])[-1]
    if found is None:
        return None
    try:
        return float(found.replace(",", ""))
    except ValueError:
        return None


def numeric_reward(completion: str, reference: str) -> float:
    """1 when the completion's `#### N` answer equals the reference's number, else 0. A
    completion without `#### ` scores 0 (the format is part of the task, as in GSM8K)."""
    m = _GSM8K.search(completion)
    want = _number(reference)
    if m is None or want is None:
        return 0.0
    got = _number(m.group(0))
    return float(got is not None and abs(got - want) < 1e-6)


def exact_reward(completion: str, reference: str) -> float:
    """1 when the completion equals the reference (trimmed, case and trailing punctuation ignored)."""
    return float(exact_match(completion, reference))


class RuleReward(BaseModel):
    """One rule and its weight in the total reward."""
    model_config = ConfigDict(extra="forbid")
    kind: Literal["exact", "regex", "numeric"] = Field(description=(
        "exact: the completion equals the reference answer; regex: the completion matches `pattern`; "
        "numeric: the completion's `#### N` equals the reference's number (GSM8K)"))
    weight: float = Field(1.0, description="weight of this rule in the summed reward")
    pattern: str | None = Field(None, description="regex (Python `re.search`) for kind regex")
    full_match: bool = Field(False, description="regex: the whole completion (stripped) must match")

    @model_validator(mode="after")
    def _pattern(self) -> RuleReward:
        if self.kind == "regex":
            if not self.pattern:
                raise ValueError("a regex reward needs `pattern`")
            try:
                re.compile(self.pattern)
            except re.error as e:
                raise ValueError(f"pattern {self.pattern!r} is not a valid regex: {e}") from None
        elif self.pattern is not None:
            raise ValueError(f"`pattern` is only for kind regex, not {self.kind}")
        return self

    def function(self) -> RewardFn:
        if self.kind == "exact":
            return exact_reward
        if self.kind == "numeric":
            return numeric_reward
        rx = re.compile(self.pattern or "")
        if self.full_match:
            return lambda text, _ref: float(rx.fullmatch(text.strip()) is not None)
        return lambda text, _ref: float(rx.search(text) is not None)


class RewardSet:
    """The weighted sum of several rules; `score` also returns each rule's own value."""

    def __init__(self, rules: list[RuleReward]):
        self.rules = rules
        self.names = [f"{r.kind}{i}" if sum(x.kind == r.kind for x in rules) > 1 else r.kind
                      for i, r in enumerate(rules)]
        self.fns = [r.function() for r in rules]

    def score(self, completions: list[str], references: list[str]) -> tuple[list[float], dict[str, list[float]]]:
        parts = {n: [fn(c, ref) for c, ref in zip(completions, references)] for n, fn in zip(self.names, self.fns)}
        total = [sum(r.weight * parts[n][i] for r, n in zip(self.rules, self.names)) for i in range(len(completions))]
        return total, parts
