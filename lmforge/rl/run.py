"""`run_rl(RLConfig)`: GRPO on prompts with reference answers and rule rewards, run by the one
training loop (the rollouts are its batch source, the GRPO loss its objective); the `lmforge rl`
verb and the `rl` recipe stage are derived from this config."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, model_validator

from lmforge.model import load_model
from lmforge.model.folder import ModelFolder
from lmforge.model.generate import SamplingParams
from lmforge.model.loader import stop_token_ids
from lmforge.report import read_metrics
from lmforge.rl.grpo import LossType, ScaleRewards, grpo_objective
from lmforge.rl.rewards import RewardSet, RuleReward
from lmforge.rl.rollout import RolloutSource, read_prompts
from lmforge.train.boundary import check_context, check_model_folder
from lmforge.train.config import TrainConfig
from lmforge.train.trainer import TrainResult, train


class PromptData(BaseModel):
    model_config = ConfigDict(extra="forbid")
    files: list[str] = Field(description="jsonl: a prompt (text or message list) and its reference answer per line")
    prompt_key: str = Field("prompt", description="key of the prompt")
    answer_key: str = Field("answer", description="key of the reference answer (e.g. GSM8K's `#### N`)")

    @model_validator(mode="after")
    def _exist(self, info: ValidationInfo) -> PromptData:
        if (info.context or {}).get("files_made_later"):
            return self
        for f in self.files:
            if not Path(f).is_file():
                raise ValueError(f"prompts.files: {f} not found")
        return self


class GRPOOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")
    group: int = Field(4, gt=1, description="completions sampled per prompt (G)")
    beta: float = Field(0.04, ge=0, description="weight of the k3 KL to the frozen start model (0: no reference)")
    epsilon_low: float = Field(0.2, gt=0, lt=1, description="ratio clipped below at 1 - epsilon_low")
    epsilon_high: float = Field(0.2, gt=0, description="ratio clipped above at 1 + epsilon_high (DAPO: 0.28)")
    loss_type: LossType = Field("grpo", description=(
        "grpo: mean over each completion's tokens, then over completions (DeepSeekMath); bnpo: over all "
        "tokens of the batch; dr_grpo: sum / (completions * max_new_tokens)"))
    scale_rewards: ScaleRewards = Field("group", description="advantages divided by the group's reward std, "
                                        "the batch's, or not at all (Dr. GRPO)")


class Sampling(BaseModel):
    model_config = ConfigDict(extra="forbid")
    max_new_tokens: int = Field(64, gt=0, description="completion length limit")
    temperature: float = Field(1.0, gt=0, description="sampling temperature of the rollouts")
    top_k: int = Field(0, ge=0, description="0: off")
    top_p: float = Field(1.0, gt=0, le=1)


class RLConfig(ModelFolder):
    """`model` is the start folder (SFT or DPO, with its tokenizer), also the frozen KL reference."""
    model_config = ConfigDict(extra="forbid")
    out: str = Field(description="run folder: model/, checkpoints/, metrics.jsonl (reward, kl per step)")
    algorithm: Literal["grpo"] = Field("grpo", description="grpo (PPO and rejection sampling: not yet)")
    prompts: PromptData
    rewards: list[RuleReward] = Field(min_length=1, description="rule rewards, summed with their weights")
    grpo: GRPOOptions = Field(default_factory=GRPOOptions)
    sampling: Sampling = Field(default_factory=Sampling)
    train: TrainConfig = Field(default_factory=TrainConfig)

    @model_validator(mode="after")
    def _check(self) -> RLConfig:
        if self.train.batch_size % self.grpo.group:
            raise ValueError(f"train.batch_size ({self.train.batch_size}) must be a multiple of grpo.group "
                             f"({self.grpo.group}): each micro-batch holds whole groups")
        if self.train.distributed == "fsdp":
            raise ValueError("train.distributed: rl runs in one process or with ddp (fsdp rollouts would "
                             "have every rank generate in lockstep; not supported)")
        return self


@dataclass
class RLResult:
    train: TrainResult
    model_dir: Path
    reward_first: float | None  # mean reward of the first 5 logged steps
    reward_last: float | None  # ... and of the last 5
    kl_last: float | None


def _curve(run_dir: Path) -> tuple[float | None, float | None, float | None]:
    rows = [r for r in read_metrics(run_dir / "metrics.jsonl") if "reward" in r]
    if not rows:
        return None, None, None
    mean = lambda part, key: sum(r.get(key, 0.0) for r in part) / len(part)
    return mean(rows[:5], "reward"), mean(rows[-5:], "reward"), mean(rows[-5:], "kl") if "kl" in rows[-1] else None


def rollout_source(cfg: RLConfig, policy, reference, tok, prompts: list[dict]) -> RolloutSource:
    s = cfg.sampling
    params = SamplingParams(max_new_tokens=s.max_new_tokens, temperature=s.temperature, top_k=s.top_k,
                            top_p=s.top_p, stop_token_ids=stop_token_ids(tok, policy.config))
    return RolloutSource(policy, reference, tok, prompts, RewardSet(cfg.rewards), cfg.grpo.group,
                         cfg.train.batch_size, params, cfg.grpo.scale_rewards, cfg.train.seed,
                         cfg.train.precision, int(os.environ.get("RANK", "0")), int(os.environ.get("WORLD_SIZE", "1")))


def run_rl(cfg: RLConfig) -> RLResult:
    """GRPO from `cfg.model`; the reference for the KL is the frozen start model."""
    shape, tok = check_model_folder(cfg.model)
    prompts = read_prompts(cfg.prompts.files, tok, cfg.prompts.prompt_key, cfg.prompts.answer_key)
    check_context("longest prompt + sampling.max_new_tokens",
                  max(len(p["ids"]) for p in prompts) + cfg.sampling.max_new_tokens, shape, cfg.model)
    policy = load_model(cfg.model)
    reference = None
    if cfg.grpo.beta:
        reference = load_model(cfg.model).eval().requires_grad_(False)
    g = cfg.grpo
    objective = grpo_objective(g.beta, g.epsilon_low, g.epsilon_high, g.loss_type, cfg.sampling.max_new_tokens)
    result = train(policy, objective, rollout_source(cfg, policy, reference, tok, prompts), cfg.train, cfg.out,
                   tokenizer_dir=cfg.model, parent=cfg.model, created_by="lmforge rl",
                   details={"algorithm": cfg.algorithm, "grpo": g.model_dump(),
                            "rewards": [r.model_dump() for r in cfg.rewards], "prompts": len(prompts)})
    first, last, kl = _curve(Path(cfg.out))
    return RLResult(result, result.model_dir, first, last, kl)
