"""Instruction tuning and preference alignment of a model folder on the one training loop:
`run_sft(SFTConfig)` and `run_dpo(DPOConfig)`; the `lmforge sft|dpo` verbs and the recipe stages
are derived from these configs."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, model_validator

from lmforge.model import load_model
from lmforge.model.io import read_json, save_model
from lmforge.sft.data import SFTBatches, encode_records, read_jsonl
from lmforge.sft.lora import add_lora, merge_lora
from lmforge.sft.pairs import PairBatches, add_reference_logps, encode_pairs
from lmforge.tokenizer import Tokenizer
from lmforge.train.config import TrainConfig
from lmforge.train.objectives import causal_lm
from lmforge.train.preference import dpo_objective
from lmforge.train.trainer import TrainResult, train


class SFTData(BaseModel):
    model_config = ConfigDict(extra="forbid")
    files: list[str] = Field(description="jsonl files: alpaca, sharegpt, messages or prompt/response")
    max_len: int = Field(1024, gt=8, description="tokens per conversation")
    truncation: Literal["drop", "cut"] = Field("drop", description="a longer conversation is dropped or cut")
    pack: bool = Field(False, description="pack several conversations into one row")

    @model_validator(mode="after")
    def _exist(self, info: ValidationInfo) -> "SFTData":
        if (info.context or {}).get("files_made_later"):  # a recipe's earlier stage writes them
            return self
        for f in self.files:
            if not Path(f).is_file():
                raise ValueError(f"data.files: {f} not found")
        return self


class DPOOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")
    beta: float = Field(0.1, gt=0, description="strength of the pull towards the reference model")
    loss: Literal["sigmoid", "ipo", "simpo"] = Field("sigmoid", description="DPO, IPO or SimPO")
    simpo_gamma: float = Field(0.5, description="SimPO's target reward margin")


class LoraOptions(BaseModel):
    """LoRA adapters (peft) on the listed projections; merged into the base weights on save."""
    model_config = ConfigDict(extra="forbid")
    r: int = Field(8, gt=0, description="adapter rank")
    alpha: int = Field(16, gt=0, description="scale alpha/r")
    dropout: float = Field(0.0, ge=0, lt=1, description="dropout on the adapter input")
    targets: list[str] | None = Field(None, description="module names; default all attention+MLP projections")


class SFTConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")
    out: str = Field(description="run folder: model/, checkpoints/, metrics.jsonl")
    model: str = Field(description="start model folder (with tokenizer)")
    data: SFTData
    train: TrainConfig = Field(default_factory=TrainConfig)
    lora: LoraOptions | None = Field(None, description="train LoRA adapters instead of all weights")

    @model_validator(mode="after")
    def _model(self, info: ValidationInfo) -> "SFTConfig":
        if (info.context or {}).get("files_made_later"):  # a recipe's earlier stage writes it
            return self
        if not (Path(self.model) / "config.json").is_file():
            raise ValueError(f"model: {self.model} is not a model folder (no config.json)")
        return self


class DPOConfig(SFTConfig):
    """SFT's settings plus the preference loss; data files hold prompt/chosen/rejected pairs."""
    dpo: DPOOptions = Field(default_factory=DPOOptions)


def _records(files: list[str]):
    for f in files:
        yield from read_jsonl(f)


def _with_lora(model, cfg: SFTConfig):
    if cfg.lora is None:
        return model

    return add_lora(model, cfg.lora.r, cfg.lora.alpha, cfg.lora.dropout, cfg.lora.targets)


def _merge_and_resave(model, result, cfg: SFTConfig):
    """The trainer saved adapter weights beside the base ones; fold them in (W + alpha/r BA)
    and rewrite the folder as a plain checkpoint, keeping the trainer's lineage entry."""
    if cfg.lora is None or result.interrupted:
        return result

    entry = read_json(result.model_dir / "lmforge.json")["lineage"][-1]
    details = {**entry["details"], "lora": {**cfg.lora.model_dump(), "merged": True}}
    save_model(merge_lora(model).cpu(), result.model_dir, created_by=entry["created_by"],
               parent=cfg.model, details=details, copy_from=cfg.model)
    return result


def run_sft(cfg: SFTConfig) -> TrainResult:
    tok = Tokenizer.from_dir(cfg.model)
    samples, stats = encode_records(tok, _records(cfg.data.files), cfg.data.max_len, cfg.data.truncation)
    print("sft data:", json.dumps(dict(stats), ensure_ascii=False))
    batches = SFTBatches(samples, cfg.train.batch_size, tok.pad_id or 0, cfg.train.seed,
                         pack=cfg.data.pack, seq_len=cfg.data.max_len if cfg.data.pack else None)
    model = _with_lora(load_model(cfg.model), cfg)
    result = train(model, causal_lm, batches, cfg.train, cfg.out, tokenizer_dir=cfg.model,
                   parent=cfg.model, created_by="lmforge sft", details={"data": dict(stats)})
    return _merge_and_resave(model, result, cfg)


def run_dpo(cfg: DPOConfig) -> TrainResult:
    tok = Tokenizer.from_dir(cfg.model)
    pairs, stats = encode_pairs(tok, _records(cfg.data.files), cfg.data.max_len)
    print("dpo data:", json.dumps(dict(stats), ensure_ascii=False))
    model = load_model(cfg.model)
    if cfg.dpo.loss != "simpo":
        add_reference_logps(model, pairs, cfg.train.batch_size, tok.pad_id or 0)
    else:
        for p in pairs:
            p["ref_chosen"] = p["ref_rejected"] = 0.0
    batches = PairBatches(pairs, cfg.train.batch_size, tok.pad_id or 0, cfg.train.seed)
    objective = dpo_objective(cfg.dpo.beta, cfg.dpo.loss, cfg.dpo.simpo_gamma)
    model = _with_lora(model, cfg)  # after the reference pass: the frozen start model is the reference
    result = train(model, objective, batches, cfg.train, cfg.out, tokenizer_dir=cfg.model, parent=cfg.model,
                   created_by="lmforge dpo", details={"data": dict(stats), **cfg.dpo.model_dump()})
    return _merge_and_resave(model, result, cfg)
