"""Reward models (InstructGPT / Llama 2): a score head on the causal LM's last hidden state,
trained Bradley-Terry on chosen/rejected pairs (the DPO pairs format), with Llama 2's optional
margin. `run_rm(RMConfig)` trains on the one training loop and writes a transformers
`LlamaForSequenceClassification` checkpoint (config `architectures`, `score.weight`,
`pad_token_id`), so `AutoModelForSequenceClassification.from_pretrained(folder)` loads it."""

from __future__ import annotations

import json
import random
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, model_validator
from torch import nn

from lmforge.errors import UserError
from lmforge.model import load_model
from lmforge.model.config import ModelConfig
from lmforge.model.folder import ModelFolder
from lmforge.model.io import (
    ModelFolderError,
    hf_config,
    load_config,
    read_json,
    read_weights,
    save_model,
)
from lmforge.model.transformer import CausalLM
from lmforge.sft.data import Normalization, Skips
from lmforge.sft.pairs import PairBatches, encode_pairs
from lmforge.text import iter_jsonl
from lmforge.train.boundary import check_context, check_model_folder
from lmforge.train.config import TrainConfig
from lmforge.train.trainer import TrainResult, train


class RewardModel(CausalLM):
    """The causal LM's backbone with a one-output `score` head read at the last non-pad token
    (transformers' rule: the rightmost token that is not `pad_token_id`). The LM head stays
    as loaded, frozen and unused, so the trainer and its checkpoints treat this as a CausalLM."""

    def __init__(self, cfg: ModelConfig, pad_token_id: int):
        super().__init__(cfg)
        self.pad_token_id = pad_token_id
        self.score = nn.Linear(cfg.hidden_size, 1, bias=False)
        if not cfg.tie_word_embeddings:
            self.lm_head.weight.requires_grad_(False)

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor | None = None,
                output: str = "rewards", **kw: Any) -> torch.Tensor:
        """`output="rewards"`: one score per row (B,); any other output is the CausalLM's."""
        if output != "rewards":
            return super().forward(input_ids, attention_mask=attention_mask, output=output, **kw)
        hidden = super().forward(input_ids, attention_mask=attention_mask, return_hidden=True, **kw)
        pos = torch.arange(input_ids.shape[1], device=input_ids.device)
        last = (pos * (input_ids != self.pad_token_id)).argmax(-1)
        return self.score(hidden[torch.arange(input_ids.shape[0], device=hidden.device), last]).squeeze(-1)


def reward_model_from(lm: CausalLM, pad_token_id: int, seed: int = 0) -> RewardModel:
    """A reward model on `lm`'s weights, its score head drawn Normal(0, initializer_range)."""
    rm = RewardModel(lm.config, pad_token_id)
    missing, unexpected = rm.load_state_dict(lm.state_dict(), strict=False)
    assert missing == ["score.weight"] and not unexpected, (missing, unexpected)
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        rm.score.weight.copy_(torch.randn(rm.score.weight.shape, generator=gen) * lm.config.initializer_range)
    return rm.to(next(lm.parameters()).dtype)


def rm_loss(chosen: torch.Tensor, rejected: torch.Tensor, margin: torch.Tensor | None = None,
            center_coef: float | None = None) -> tuple[torch.Tensor, dict[str, float]]:
    """-log sigmoid(r_chosen - r_rejected - margin), averaged (TRL's RewardTrainer); with
    `center_coef`, plus center_coef * mean((r_chosen + r_rejected)^2) (keeps rewards near 0)."""
    delta = chosen - rejected - (margin if margin is not None else 0.0)
    loss = -F.logsigmoid(delta).mean()
    if center_coef is not None:
        loss = loss + center_coef * torch.mean((chosen + rejected) ** 2)
    with torch.no_grad():
        metrics = {"accuracy": (chosen > rejected).float().mean().item(),
                   "margin": (chosen - rejected).mean().item(),
                   "mean_reward": torch.cat([chosen, rejected]).mean().item()}
    return loss, metrics


def rm_objective(center_coef: float | None = None
                 ) -> Callable[[RewardModel, dict[str, torch.Tensor]], tuple[torch.Tensor, dict[str, float]]]:
    """Objective for the trainer on PairBatches batches (one padded width for both sides)."""

    def objective(model: RewardModel, batch: dict[str, torch.Tensor]) -> tuple[torch.Tensor, dict[str, float]]:
        ids = torch.cat([batch["chosen_input_ids"], batch["rejected_input_ids"]])
        att = torch.cat([batch["chosen_attention_mask"], batch["rejected_attention_mask"]])
        rewards = model(ids, attention_mask=att, output="rewards").float()
        n = batch["chosen_input_ids"].shape[0]
        return rm_loss(rewards[:n], rewards[n:], batch.get("margin"), center_coef)

    return objective


class _Scored:
    """What save_model needs of a model (config, state_dict) with the unused LM head left out."""

    def __init__(self, rm: RewardModel):
        self.config = rm.config
        self._sd = {k: v for k, v in rm.state_dict().items() if not k.startswith("lm_head.")}

    def state_dict(self) -> dict[str, torch.Tensor]:
        return self._sd


def classifier_config(cfg: ModelConfig, pad_token_id: int) -> dict[str, Any]:
    """config.json of a one-label sequence classifier (LlamaForSequenceClassification for Llama)."""
    d = hf_config(cfg)
    d["architectures"] = [d["architectures"][0].replace("ForCausalLM", "ForSequenceClassification")]
    d.update(num_labels=1, id2label={"0": "LABEL_0"}, label2id={"LABEL_0": 0}, pad_token_id=pad_token_id)
    return d


def save_reward_model(rm: RewardModel, out: str | Path, **save_kw: Any) -> Path:
    """The reward model as a transformers sequence-classification folder (atomic)."""
    config = json.dumps(classifier_config(rm.config, rm.pad_token_id), indent=2)
    return save_model(_Scored(rm), out, extra_files={"config.json": config}, **save_kw)


def load_reward_model(folder: str | Path, device: str | torch.device = "cpu") -> RewardModel:
    """A reward-model folder written by `lmforge rm` (or transformers, Llama-family)."""
    folder = Path(folder)
    raw = read_json(folder / "config.json")
    if not any(a.endswith("ForSequenceClassification") for a in raw.get("architectures", [])):
        raise ModelFolderError(f"{folder / 'config.json'}: not a reward model (architectures "
                               f"{raw.get('architectures')}, expected ...ForSequenceClassification)")
    if raw.get("num_labels", len(raw.get("id2label", {0: 0}))) != 1 or raw.get("pad_token_id") is None:
        raise ModelFolderError(f"{folder / 'config.json'}: a reward model needs num_labels 1 and a pad_token_id")
    rm = RewardModel(load_config(folder), raw["pad_token_id"])
    missing, unexpected = rm.load_state_dict(read_weights(folder), strict=False)
    missing = [k for k in missing if not k.startswith("lm_head.")]
    if missing or unexpected:
        raise ModelFolderError(f"{folder}: missing tensor(s) {missing[:5]}, unexpected {unexpected[:5]}")
    return rm.to(device).eval()


class RMData(BaseModel):
    model_config = ConfigDict(extra="forbid")
    files: list[str] = Field(description="jsonl pairs {prompt, chosen, rejected[, margin]} (the DPO format)")
    heldout_files: list[str] = Field(default_factory=list, description=(
        "held-out pairs for the accuracy; none: `heldout_fraction` of the pairs is held out"))
    heldout_fraction: float = Field(0.1, ge=0, lt=1, description="share of pairs held out when no heldout_files")
    max_len: int = Field(1024, gt=8, description="tokens per conversation; longer pairs are dropped")
    normalize: Normalization = Field("nfkc-cjk", description="Unicode normalization of every message (as SFT)")

    @model_validator(mode="after")
    def _exist(self, info: ValidationInfo) -> RMData:
        if (info.context or {}).get("files_made_later"):
            return self
        for f in self.files + self.heldout_files:
            if not Path(f).is_file():
                raise ValueError(f"data: {f} not found")
        return self


class RMOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")
    margin: bool = Field(False, description="use each pair's `margin` (Llama 2: larger for clearer preferences)")
    center_rewards_coefficient: float | None = Field(None, ge=0, description=(
        "add coef * mean((r_chosen + r_rejected)^2) to keep rewards centred (TRL's option)"))


class RMConfig(ModelFolder):
    """`model` is the start folder (base or SFT, with its tokenizer)."""
    model_config = ConfigDict(extra="forbid")
    out: str = Field(description="run folder: model/ (the reward model), checkpoints/, metrics.jsonl")
    data: RMData
    rm: RMOptions = Field(default_factory=RMOptions)
    train: TrainConfig = Field(default_factory=TrainConfig)


@dataclass
class RMResult:
    train: TrainResult
    model_dir: Path
    heldout_pairs: int
    heldout_accuracy: float | None
    data: dict[str, int]


def _margin(where: str, rec: dict[str, Any], use: bool) -> float:
    if not use:
        return 0.0
    m = rec.get("margin")
    if not isinstance(m, (int, float)) or isinstance(m, bool):
        raise UserError(f"{where}: rm.margin is on, so every pair needs a numeric 'margin' (got {m!r})")
    return float(m)


def encode_rm_pairs(tok, files: list[str], max_len: int, how: Normalization, use_margin: bool
                    ) -> tuple[list[dict], Skips]:
    """Pairs as DPO encodes them, each with its margin (0 without rm.margin)."""
    pairs, stats = [], Skips()
    for f in files:
        for where, rec in iter_jsonl(f, strict=True):
            got, st = encode_pairs(tok, [(where, rec)], max_len, how)
            stats.update(st)
            stats.problems += st.problems[:max(0, 5 - len(stats.problems))]
            for p in got:
                pairs.append({**p, "margin": _margin(where, rec, use_margin), "ref_chosen": 0.0, "ref_rejected": 0.0})
    return pairs, stats


class MarginPairs(PairBatches):
    """PairBatches whose batches also carry each pair's `margin`."""

    def next_batch(self) -> dict[str, torch.Tensor]:
        batch = super().next_batch()
        part = self.order[self.pos - self.batch_size:self.pos]
        batch["margin"] = torch.tensor([self.pairs[i]["margin"] for i in part], dtype=torch.float32)
        return batch


def _split(pairs: list[dict], fraction: float, seed: int) -> tuple[list[dict], list[dict]]:
    idx = list(range(len(pairs)))
    random.Random(seed).shuffle(idx)
    n = round(len(pairs) * fraction)
    return [pairs[i] for i in idx[n:]], [pairs[i] for i in idx[:n]]


def _heldout_batches(pairs: list[dict], batch_size: int, pad_id: int) -> Callable[[], Iterator[dict]]:
    def batches() -> Iterator[dict]:
        src = MarginPairs(pairs, batch_size, pad_id)
        src.order = list(range(len(pairs)))
        for _ in range(0, len(pairs) - batch_size + 1, batch_size):
            yield src.next_batch()
    return batches


@torch.no_grad()
def pair_accuracy(rm: RewardModel, pairs: list[dict], pad_id: int, batch_size: int = 16) -> float:
    """Share of pairs whose chosen answer scores above the rejected one."""
    was = rm.training
    rm.eval()
    dev = next(rm.parameters()).device
    hits = 0
    for i in range(0, len(pairs), batch_size):
        src = MarginPairs(pairs[i:i + batch_size], len(pairs[i:i + batch_size]), pad_id)
        src.order = list(range(len(src.pairs)))
        b = src.next_batch()
        rc = rm(b["chosen_input_ids"].to(dev), attention_mask=b["chosen_attention_mask"].to(dev))
        rr = rm(b["rejected_input_ids"].to(dev), attention_mask=b["rejected_attention_mask"].to(dev))
        hits += int((rc > rr).sum())
    rm.train(was)
    return hits / max(1, len(pairs))


def _data(cfg: RMConfig, tok) -> tuple[list[dict], list[dict], Skips]:
    d = cfg.data
    pairs, stats = encode_rm_pairs(tok, d.files, d.max_len, d.normalize, cfg.rm.margin)
    stats.report("rm data", "reward-model pairs", d.files)
    if d.heldout_files:
        held, _ = encode_rm_pairs(tok, d.heldout_files, d.max_len, d.normalize, cfg.rm.margin)
        return pairs, held, stats
    train_pairs, held = _split(pairs, d.heldout_fraction, cfg.train.seed)
    if not train_pairs:
        raise UserError(f"{', '.join(d.files)}: no pairs left to train on after holding out "
                        f"data.heldout_fraction={d.heldout_fraction}")
    return train_pairs, held, stats


def run_rm(cfg: RMConfig) -> RMResult:
    """Train a reward model and write it as a sequence-classification folder in `out/model`."""
    shape, tok = check_model_folder(cfg.model)
    check_context("data.max_len", cfg.data.max_len, shape, cfg.model)
    pairs, held, stats = _data(cfg, tok)
    pad = tok.pad_id
    rm = reward_model_from(load_model(cfg.model), pad, cfg.train.seed)
    val = _heldout_batches(held, cfg.train.batch_size, pad) if len(held) >= cfg.train.batch_size else None
    details = {"data": dict(stats), "rm": cfg.rm.model_dump(), "train_pairs": len(pairs), "heldout_pairs": len(held)}
    result = train(rm, rm_objective(cfg.rm.center_rewards_coefficient), MarginPairs(pairs, cfg.train.batch_size, pad,
                   cfg.train.seed), cfg.train, cfg.out, val_data=val, tokenizer_dir=cfg.model, parent=cfg.model,
                   created_by="lmforge rm", details=details)
    acc = pair_accuracy(rm, held, pad, cfg.train.batch_size) if held else None
    if not result.interrupted:
        entry = read_json(result.model_dir / "lmforge.json")["lineage"][-1]
        save_reward_model(rm.cpu(), result.model_dir, created_by=entry["created_by"], parent=cfg.model,
                          details={**entry["details"], "heldout_accuracy": acc}, copy_from=cfg.model)
    return RMResult(result, result.model_dir, len(held), acc, dict(stats))
