"""DPO pairs (prompt, chosen, rejected; plain strings or message lists) -> tokenized pairs with
reference log-probs computed once by the frozen start model, as a trainer batch source."""

from __future__ import annotations

import random
from typing import Any, Iterable

import torch
from tqdm import tqdm

from lmforge.errors import UserError
from lmforge.sft.data import Normalization, SFTBatches, Skips, encode, located, skip_reason
from lmforge.tokenizer.chat_template import ChatFormatError
from lmforge.train.preference import sequence_logps


def pair_turns(rec: dict[str, Any], key: str, role: str) -> list[dict[str, Any]]:
    """A pair's prompt or answer: text (one turn) or a list of messages. An empty rejected reply is
    kept: a reply that ends at once is a failure a preference should be able to name."""
    value = rec[key]
    if isinstance(value, str):
        if not value.strip() and key != "rejected":
            raise ChatFormatError(f"'{key}' is empty")
        return [{"role": role, "content": value}]
    if isinstance(value, list):
        return list(value)
    raise ChatFormatError(f"'{key}' must be text or a list of messages, got {type(value).__name__}")


def encode_pairs(tokenizer, records: Iterable[dict[str, Any] | tuple[str, dict[str, Any]]], max_len: int,
                 how: Normalization = "none") -> tuple[list[dict], Skips]:
    """Tokenized pairs; records with chosen == rejected, bad fields or roles, or over max_len are
    counted and skipped (the first few bad ones named)."""
    out, stats = [], Skips()
    for where, rec in located(records):
        missing = [k for k in ("prompt", "chosen", "rejected") if k not in rec]
        if missing:
            stats.skip("skipped: a record without prompt, chosen and rejected", where, f"no {', '.join(missing)}")
            continue
        if rec["chosen"] == rec["rejected"]:
            stats.skip("skipped: chosen and rejected are the same", where, "chosen == rejected")
            continue
        try:
            prompt = pair_turns(rec, "prompt", "user")
            c = encode(tokenizer, prompt + pair_turns(rec, "chosen", "assistant"), how)
            r = encode(tokenizer, prompt + pair_turns(rec, "rejected", "assistant"), how)
        except ChatFormatError as e:
            stats.skip(skip_reason(e), where, str(e))
            continue
        if max(len(c[0]), len(r[0])) > max_len:
            stats["dropped (too long)"] += 1
            continue
        out.append({"chosen": c, "rejected": r})
        stats["kept"] += 1
    return out, stats


@torch.no_grad()
def add_reference_logps(model, pairs: list[dict], batch_size: int = 16, pad_id: int = 0) -> None:
    """Store the frozen start model's summed completion log-probs in each pair (done once)."""
    was = model.training
    model.eval()
    dev = next(model.parameters()).device
    for i in tqdm(range(0, len(pairs), batch_size), desc="reference log-probs", leave=False):
        part = pairs[i:i + batch_size]
        for side in ("chosen", "rejected"):
            b = SFTBatches.collate([p[side] for p in part], pad_id)
            lp, _ = sequence_logps(model, b["input_ids"].to(dev), b["labels"].to(dev),
                                   b["attention_mask"].to(dev))
            for p, v in zip(part, lp.tolist()):
                p[f"ref_{side}"] = v
    model.train(was)


class PairBatches:
    """Shuffled epochs of DPO pair batches (BatchSource protocol)."""

    def __init__(self, pairs: list[dict], batch_size: int, pad_id: int = 0, seed: int = 0):
        if not pairs:
            raise UserError("no DPO pairs left to train on")
        self.pairs, self.batch_size, self.pad_id, self.seed = pairs, batch_size, pad_id, seed
        self.epoch, self.pos = 0, 0
        self.order = self._plan()

    def _plan(self) -> list[int]:
        idx = list(range(len(self.pairs)))
        random.Random(self.seed + self.epoch).shuffle(idx)
        return idx

    def next_batch(self) -> dict[str, torch.Tensor]:
        if self.pos + self.batch_size > len(self.order) and self.pos:
            self.epoch, self.pos = self.epoch + 1, 0
            self.order = self._plan()
        part = [self.pairs[i] for i in self.order[self.pos:self.pos + self.batch_size]]
        self.pos += self.batch_size
        # one padded length for both sides, so the objective can run them as one batch
        both = SFTBatches.collate([p["chosen"] for p in part] + [p["rejected"] for p in part], self.pad_id)
        batch = {}
        for side, half in (("chosen", slice(0, len(part))), ("rejected", slice(len(part), None))):
            batch.update({f"{side}_{k}": v[half] for k, v in both.items()})
            batch[f"ref_{side}"] = torch.tensor([p[f"ref_{side}"] for p in part])
        return batch

    def state_dict(self) -> dict[str, Any]:
        return {"epoch": self.epoch, "pos": self.pos}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.epoch, self.pos = state["epoch"], state["pos"]
        self.order = self._plan()
