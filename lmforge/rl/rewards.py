"""Rewards for RL, combined with weights: rules (Ziya's rule-based rewards: exact match against
the reference answer, a regex / format check, a numeric-answer check as in GSM8K `#### N`), a
reward-model folder (`lmforge rm`), and an OpenAI-compatible judge endpoint (rewards_judge.py)."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, Literal, Union

import torch
from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, model_validator

from lmforge.eval.answers import exact_match
from lmforge.rl.reward_model import RewardModel, load_reward_model
from lmforge.rl.rewards_judge import JudgeReward
from lmforge.sft.data import Normalization, encode
from lmforge.tokenizer.core import Tokenizer

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


class ModelReward(BaseModel):
    """A reward-model folder written by `lmforge rm`: the score of the prompt and completion,
    rendered with the reward model's own chat template."""
    model_config = ConfigDict(extra="forbid")
    kind: Literal["model"] = Field(description="model: the score of a reward-model folder")
    path: str = Field(description="reward-model folder (lmforge rm's out/model)")
    weight: float = Field(1.0, description="weight of this reward in the summed reward")
    batch_size: int = Field(16, gt=0, description="conversations scored per forward pass")
    normalize: Normalization = Field("nfkc-cjk", description="Unicode normalization (as the RM was trained)")

    @model_validator(mode="after")
    def _exists(self, info: ValidationInfo) -> ModelReward:
        if not (info.context or {}).get("files_made_later") and not (Path(self.path) / "config.json").is_file():
            raise ValueError(f"path: {self.path} is not a reward-model folder (no config.json)")
        return self


RewardSpec = Annotated[Union[RuleReward, ModelReward, JudgeReward], Field(discriminator="kind")]
BatchFn = Callable[[list[str], list[str], list[list[dict]]], list[float]]


class _ModelScorer:
    """Scores (prompt messages + completion) with a reward model, loaded on first use."""

    def __init__(self, spec: ModelReward, device: torch.device | str = "cpu"):
        self.spec, self.device = spec, device
        self.rm: RewardModel | None = None
        self.tok: Tokenizer | None = None

    @torch.no_grad()
    def __call__(self, completions: list[str], _refs: list[str], prompts: list[list[dict]]) -> list[float]:
        if self.rm is None:
            self.rm, self.tok = load_reward_model(self.spec.path, self.device), Tokenizer.from_dir(self.spec.path)
        rows = [encode(self.tok, [*p, {"role": "assistant", "content": c}], self.spec.normalize)[0]
                for p, c in zip(prompts, completions)]
        out: list[float] = []
        for i in range(0, len(rows), self.spec.batch_size):
            part = rows[i:i + self.spec.batch_size]
            width = max(map(len, part))
            pad = self.rm.pad_token_id
            ids = torch.tensor([r + [pad] * (width - len(r)) for r in part], device=self.device)
            att = torch.tensor([[1] * len(r) + [0] * (width - len(r)) for r in part], device=self.device)
            out += self.rm(ids, attention_mask=att).float().cpu().tolist()
        return out


def _batch_fn(spec: Any, device: torch.device | str) -> BatchFn:
    if isinstance(spec, ModelReward):
        return _ModelScorer(spec, device)
    if isinstance(spec, JudgeReward):
        return spec.scorer()
    fn = spec.function()
    return lambda completions, refs, _prompts: [fn(c, r) for c, r in zip(completions, refs)]


class RewardSet:
    """The weighted sum of several rewards; `score` also returns each one's own value."""

    def __init__(self, specs: list[Any], device: torch.device | str = "cpu"):
        self.rules = specs
        self.names = [f"{r.kind}{i}" if sum(x.kind == r.kind for x in specs) > 1 else r.kind
                      for i, r in enumerate(specs)]
        self.fns = [_batch_fn(r, device) for r in specs]

    def score(self, completions: list[str], references: list[str], prompts: list[list[dict]] | None = None
              ) -> tuple[list[float], dict[str, list[float]]]:
        """Total and per-reward scores; `prompts` (message lists) are needed by model and judge rewards."""
        prompts = prompts if prompts is not None else [[] for _ in completions]
        parts = {n: [float(x) for x in fn(completions, references, prompts)] for n, fn in zip(self.names, self.fns)}
        total = [sum(r.weight * parts[n][i] for r, n in zip(self.rules, self.names)) for i in range(len(completions))]
        return total, parts
