"""Instruction tuning and preference alignment of a model folder on the one training loop:
`run_sft(SFTConfig)` and `run_dpo(DPOConfig)`; the `lmforge sft|dpo` verbs and the recipe stages
are derived from these configs."""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, model_validator

from lmforge.model import load_model
from lmforge.model.io import read_json, save_model
from lmforge.model.config import ModelConfig
from lmforge.sft.data import Normalization, SFTBatches, encode_records
from lmforge.sft.lora import add_lora, merge_lora
from lmforge.sft.pairs import PairBatches, add_reference_logps, encode_pairs
from lmforge.text import iter_jsonl
from lmforge.tokenizer import Tokenizer
from lmforge.train.boundary import check_context, check_model_folder, memory_gib, tokenizer_identity
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
    normalize: Normalization = Field("nfkc-cjk", description=(
        "Unicode normalization of every message, as the pretraining corpus was cleaned: nfkc-cjk "
        "(the default cleaning: NFKC keeping full-width Chinese punctuation), nfkc (plain NFKC, for a corpus "
        "cleaned with normalize: {keep_cjk_punctuation: false}) or none"))

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
    sft_weight: float = Field(0.0, ge=0, description=(
        "weight of the chosen replies' negative log-likelihood added to the loss (RPO; TRL's "
        "loss_type [sigmoid, sft]): keeps DPO from lowering the chosen answers with the rejected ones"))


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
    dry_run: bool = Field(False, description="run every check (model folder and its tokenizer, data.max_len "
                          "against the context, the data's records, memory per GPU) and stop before training")

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
    """(`file:line`, record) of every file; a malformed line is an error naming it."""
    for f in files:
        yield from iter_jsonl(f, strict=True)


def _with_lora(model, cfg: SFTConfig):
    if cfg.lora is None:
        return model

    return add_lora(model, cfg.lora.r, cfg.lora.alpha, cfg.lora.dropout, cfg.lora.targets, seed=cfg.train.seed)


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


@dataclass
class TunePlan:
    """What the checks found before SFT/DPO: the model's tokenizer and shape, the encoded data
    (its batches and the counts of kept and skipped records) and the per-GPU peak of one step."""

    tokenizer: Tokenizer
    shape: ModelConfig
    batches: SFTBatches | PairBatches
    stats: Counter
    memory_gib: float

    def summary(self) -> str:
        return (f"checked: model {self.shape.num_hidden_layers} layers, vocab {self.shape.vocab_size:,}, "
                f"context {self.shape.max_position_embeddings}; tokenizer {self.tokenizer.vocab_size:,} tokens; "
                f"data {self.stats['kept']} kept ({json.dumps(dict(self.stats), ensure_ascii=False)}); "
                f"peak {self.memory_gib:.1f} GiB on one GPU")


def _model_checks(cfg: SFTConfig) -> tuple[ModelConfig, Tokenizer]:
    """The model folder against its tokenizer, and data.max_len against its context."""
    shape, tok = check_model_folder(cfg.model)
    check_context("data.max_len", cfg.data.max_len, shape, cfg.model)
    return shape, tok


def check_sft(cfg: SFTConfig) -> TunePlan:
    """Every check before an SFT step (all that `--dry-run` runs), with the encoded samples."""
    shape, tok = _model_checks(cfg)
    samples, stats = encode_records(tok, _records(cfg.data.files), cfg.data.max_len, cfg.data.truncation,
                                    cfg.data.normalize)
    stats.report("sft data", "SFT samples", cfg.data.files)
    batches = SFTBatches(samples, cfg.train.batch_size, tok.pad_id or 0, cfg.train.seed,
                         pack=cfg.data.pack, seq_len=cfg.data.max_len if cfg.data.pack else None)
    return TunePlan(tok, shape, batches, stats, memory_gib(shape, cfg.train, cfg.data.max_len))


def check_dpo(cfg: DPOConfig) -> TunePlan:
    """Every check before a DPO step (all that `--dry-run` runs), with the encoded pairs."""
    shape, tok = _model_checks(cfg)
    pairs, stats = encode_pairs(tok, _records(cfg.data.files), cfg.data.max_len, cfg.data.normalize)
    stats.report("dpo data", "DPO pairs", cfg.data.files)
    batches = PairBatches(pairs, cfg.train.batch_size, tok.pad_id or 0, cfg.train.seed)
    return TunePlan(tok, shape, batches, stats, memory_gib(shape, cfg.train, cfg.data.max_len))


def _details(plan: TunePlan, cfg: SFTConfig) -> dict:
    return {"data": dict(plan.stats), "tokenizer": tokenizer_identity(plan.tokenizer, cfg.model)}


def run_sft(cfg: SFTConfig) -> TrainResult | TunePlan:
    """Fine-tune (with dry_run: only the checks' plan, nothing trained)."""
    plan = check_sft(cfg)
    if cfg.dry_run:
        return plan
    model = _with_lora(load_model(cfg.model), cfg)
    result = train(model, causal_lm, plan.batches, cfg.train, cfg.out, tokenizer_dir=cfg.model,
                   parent=cfg.model, created_by="lmforge sft", details=_details(plan, cfg))
    return _merge_and_resave(model, result, cfg)


def run_dpo(cfg: DPOConfig) -> TrainResult | TunePlan:
    """Preference-tune (with dry_run: only the checks' plan, nothing trained)."""
    plan = check_dpo(cfg)
    if cfg.dry_run:
        return plan
    pairs, pad = plan.batches.pairs, plan.tokenizer.pad_id or 0
    model = load_model(cfg.model)
    if cfg.dpo.loss != "simpo":
        add_reference_logps(model, pairs, cfg.train.batch_size, pad)
    else:
        for p in pairs:
            p["ref_chosen"] = p["ref_rejected"] = 0.0
    objective = dpo_objective(cfg.dpo.beta, cfg.dpo.loss, cfg.dpo.simpo_gamma, cfg.dpo.sft_weight)
    model = _with_lora(model, cfg)  # after the reference pass: the frozen start model is the reference
    result = train(model, objective, plan.batches, cfg.train, cfg.out, tokenizer_dir=cfg.model,
                   parent=cfg.model, created_by="lmforge dpo",
                   details={**_details(plan, cfg), **cfg.dpo.model_dump()})
    return _merge_and_resave(model, result, cfg)
