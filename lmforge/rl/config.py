"""The `lmforge rl` config: prompts with reference answers, rewards, the algorithm (GRPO, PPO,
rejection sampling) and its options, sampling and the training loop's settings."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, model_validator

from lmforge.model.folder import ModelFolder
from lmforge.rl.grpo import LossType, ScaleRewards
from lmforge.rl.rewards import RewardSpec
from lmforge.sft.finetune import LoraOptions
from lmforge.train.config import TrainConfig


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


class PPOOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")
    kl_coef: float = Field(0.05, ge=0, description="per-token KL to the frozen start model, subtracted from the reward")
    cliprange: float = Field(0.2, gt=0, lt=1, description="policy ratio clipped to 1 +- cliprange")
    cliprange_value: float = Field(0.2, gt=0, description="value prediction clipped to old value +- this")
    vf_coef: float = Field(0.1, ge=0, description="weight of the value loss")
    gamma: float = Field(1.0, gt=0, le=1, description="discount")
    lam: float = Field(0.95, ge=0, le=1, description="GAE lambda")
    epochs: int = Field(1, gt=0, description="optimizer steps on each rollout (PPO epochs; 1: one update)")
    whiten_advantages: bool = Field(True, description="advantages to mean 0, std 1 over each rollout batch")
    whiten_scores: bool = Field(True, description=(
        "sequence rewards to mean 0, std 1 over each rollout batch before the KL penalty (Llama 2 whitens "
        "its reward-model scores for stability)"))


class RejectionOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")
    k: int = Field(4, gt=1, description="completions sampled per prompt; the best by reward is kept (best-of-K)")
    min_reward: float | None = Field(None, description="keep a prompt's best only if its reward reaches this")
    batch_size: int = Field(32, gt=0, description="prompts sampled together")
    max_len: int | None = Field(None, gt=8, description=(
        "SFT: tokens per conversation (None: the longest prompt + sampling.max_new_tokens + 16, within the context)"))


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
    algorithm: Literal["grpo", "ppo", "rejection_sampling"] = Field("grpo", description=(
        "grpo: group-normalized advantages (DeepSeekMath); ppo: value head, GAE, KL in the reward "
        "(InstructGPT, Llama 2); rejection_sampling: best of K completions per prompt, then SFT on them (Llama 2)"))
    prompts: PromptData
    rewards: list[RewardSpec] = Field(min_length=1, description=(
        "rewards summed with their weights: rules (exact, regex, numeric), a reward-model folder (model), "
        "an OpenAI-compatible judge (judge)"))
    grpo: GRPOOptions = Field(default_factory=GRPOOptions)
    ppo: PPOOptions = Field(default_factory=PPOOptions)
    rejection: RejectionOptions = Field(default_factory=RejectionOptions)
    sampling: Sampling = Field(default_factory=Sampling)
    train: TrainConfig = Field(default_factory=TrainConfig)
    lora: LoraOptions | None = Field(None, description=(
        "train LoRA adapters (as `lmforge sft`) instead of all weights; the KL reference is then the policy "
        "with its adapters switched off (no second copy), and the saved folder has them merged"))

    @model_validator(mode="after")
    def _check(self) -> RLConfig:
        if self.algorithm == "grpo" and self.train.batch_size % self.grpo.group:
            raise ValueError(f"train.batch_size ({self.train.batch_size}) must be a multiple of grpo.group "
                             f"({self.grpo.group}): each micro-batch holds whole groups")
        if self.train.distributed == "fsdp":
            raise ValueError("train.distributed: rl runs in one process or with ddp (fsdp rollouts would "
                             "have every rank generate in lockstep; not supported)")
        return self
