"""TrainConfig: every knob of the one training loop, validated before any step runs."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from lmforge.errors import require_extra


class TrainConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    seed: int = Field(0, ge=0, lt=2**63)
    max_steps: int = Field(100, gt=0, description="optimizer steps")
    batch_size: int = Field(8, gt=0, description="sequences per micro-batch per process")
    seq_len: int = Field(256, gt=1)
    grad_accum: int = Field(1, gt=0, description="micro-batches per step (derived from global_batch_tokens if set)")
    global_batch_tokens: int | None = Field(None, gt=0, description="tokens per optimizer step over all processes")
    lr: float = Field(3e-4, gt=0)
    min_lr_ratio: float = Field(0.1, ge=0, le=1)
    schedule: Literal["cosine", "wsd", "constant", "linear"] = "cosine"
    warmup_steps: int = Field(0, ge=0)
    decay_fraction: float = Field(0.2, gt=0, le=1, description="WSD: share of steps spent decaying")
    weight_decay: float = Field(0.1, ge=0)
    betas: tuple[float, float] = (0.9, 0.95)
    grad_clip: float = Field(1.0, ge=0, description="0 disables clipping")
    eval_every: int = Field(0, ge=0, description="steps between validation runs (0: only at the end)")
    eval_batches: int = Field(8, gt=0)
    save_every: int = Field(0, ge=0, description="steps between checkpoints (0: only at the end)")
    keep_last: int = Field(2, gt=0)
    precision: Literal["auto", "fp32", "bf16"] = "auto"
    compile: bool = False
    activation_checkpointing: bool = False
    loss_impl: Literal["auto", "chunked", "liger", "full"] = Field(
        "auto", description="output loss: chunked linear+cross-entropy that never holds the full logits "
        "(auto: Liger Kernel on CUDA when installed, else chunked), or full logits")
    loss_chunk_tokens: int | None = Field(None, gt=0, description="tokens per loss chunk (None: each "
                                          "chunk's fp32 logits about 128 MiB)")
    document_mask: bool = Field(False, description="packed rows: attention stays inside each EOS-ended "
                                "document and positions restart per document")
    freeze: list[str] = Field(default_factory=list, description="parameter name patterns to freeze")
    train_only: list[str] = Field(default_factory=list, description="train only names matching these")
    max_bad_steps: int = Field(5, gt=0, description="stop after this many non-finite losses in a row")
    log_every: int = Field(1, gt=0)
    device: str = "auto"
    distributed: Literal["ddp", "fsdp"] = "ddp"
    tensorboard: bool = False
    wandb_project: str | None = None

    @model_validator(mode="after")
    def _check(self) -> "TrainConfig":
        if self.warmup_steps >= self.max_steps and self.warmup_steps:
            raise ValueError(f"warmup_steps ({self.warmup_steps}) must be < max_steps ({self.max_steps})")
        if self.global_batch_tokens and self.global_batch_tokens % (self.batch_size * self.seq_len):
            raise ValueError(f"global_batch_tokens ({self.global_batch_tokens}) must be a multiple of "
                             f"batch_size * seq_len = {self.batch_size * self.seq_len}")
        if self.freeze and self.train_only:
            raise ValueError("set either freeze or train_only, not both")
        if self.tensorboard:
            require_extra("tensorboard", "TensorBoard logging (tensorboard: true)", "tracking")
        if self.wandb_project:
            require_extra("wandb", "W&B logging (wandb_project)", "tracking")
        return self

    def accumulation(self, world_size: int) -> int:
        """Micro-batches per step so that one step sees global_batch_tokens."""
        if self.global_batch_tokens is None:
            return self.grad_accum
        per_micro = self.batch_size * self.seq_len * world_size
        if self.global_batch_tokens % per_micro:
            raise ValueError(f"global_batch_tokens ({self.global_batch_tokens}) must be a multiple of "
                             f"batch_size * seq_len * world_size = {per_micro}")
        return self.global_batch_tokens // per_micro

    def tokens_per_step(self, world_size: int = 1) -> int:
        return self.batch_size * self.seq_len * world_size * self.accumulation(world_size)
