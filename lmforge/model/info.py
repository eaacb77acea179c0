"""`lmforge model info`: a model's size and FLOPs, and optionally its training memory and speed."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

from lmforge.model.config import PRESETS, preset
from lmforge.model.flops import describe
from lmforge.model.io import load_config
from lmforge.model.memory import train_report


class InfoConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)
    model_dir: str | None = Field(None, description="model folder")
    preset: str | None = Field(None, description="describe a preset instead of a folder")
    seq_len: int | None = Field(None, gt=0, description="sequence length for the attention FLOPs term")
    train: str | None = Field(None, description="training memory per device and expected tokens/s for "
                              "seq_len,batch_size,precision(fp32|bf16),distributed(none|ddp|fsdp),gpus,"
                              "activation_checkpointing,loss_impl(chunked|full),mfu(0.4),device(H100)")
    list_presets: bool = Field(False, alias="list", description="list the presets")
    json_output: bool = Field(False, alias="json", description="print JSON")

    @model_validator(mode="after")
    def _one(self) -> "InfoConfig":
        if not self.list_presets and bool(self.preset) == bool(self.model_dir):
            raise ValueError("give a model folder or --preset NAME (not both)")
        return self


def model_info(cfg: InfoConfig) -> dict[str, Any]:
    """{"presets": {name: params}} with `list`, else the description, config and training estimate."""
    if cfg.list_presets:
        return {"presets": {name: describe(preset(name))["parameters"] for name in PRESETS}}
    shape = preset(cfg.preset) if cfg.preset else load_config(cfg.model_dir)
    out: dict[str, Any] = {"name": cfg.preset or cfg.model_dir, "describe": describe(shape, cfg.seq_len),
                           "config": shape.model_dump()}
    if cfg.train:
        out["train"] = train_report(shape, cfg.train)
    return out
