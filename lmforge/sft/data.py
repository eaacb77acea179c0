"""SFT records (alpaca, sharegpt, OpenAI messages, prompt/response) -> messages -> token ids
with labels only on assistant tokens, and a length-bucketed batch source for the trainer."""

from __future__ import annotations

import json
import random
import sys
from collections import Counter
from typing import Any, Iterable, Iterator, Literal

import torch

from lmforge.errors import UserError
from lmforge.text import normalize
from lmforge.text import read_jsonl  # noqa: F401  (the one JSONL reader; callers import it from here)
from lmforge.tokenizer.chat_template import ChatFormatError, render

IGNORE = -100
_SHAREGPT_ROLES = {"human": "user", "user": "user", "gpt": "assistant", "assistant": "assistant",
                   "system": "system", "chatgpt": "assistant", "bing": "assistant", "bard": "assistant"}


def _turn_list(rec: dict[str, Any], key: str) -> list[dict[str, Any]]:
    """rec[key] as a list of message objects, or a ChatFormatError naming the field."""
    value = rec[key]
    if not isinstance(value, list) or not all(isinstance(m, dict) for m in value):
        raise ChatFormatError(f"'{key}' must be a list of message objects, got {type(value).__name__} {value!r:.60}")
    return value


def _text(rec: dict[str, Any], key: str) -> str:
    if not isinstance(rec[key], str):
        raise ChatFormatError(f"'{key}' must be text, got {type(rec[key]).__name__}")
    return rec[key]


def _schema_messages(rec: dict[str, Any]) -> list[dict[str, Any]]:
    """The record's turns, whichever supported schema it uses."""
    if "messages" in rec:
        return [{"role": m.get("role"), "content": m.get("content")} for m in _turn_list(rec, "messages")]
    if "conversations" in rec:
        msgs = []
        for m in _turn_list(rec, "conversations"):
            role = _SHAREGPT_ROLES.get(str(m.get("from", m.get("role"))).lower())
            if role is None:
                raise ChatFormatError(f"unknown role {m.get('from', m.get('role'))!r}")
            msgs.append({"role": role, "content": m.get("value", m.get("content"))})
    elif "instruction" in rec and "output" in rec:
        prompt = _text(rec, "instruction") + (("\n\n" + _text(rec, "input")) if rec.get("input") else "")
        msgs = [{"role": "user", "content": prompt}, {"role": "assistant", "content": rec["output"]}]
    elif "prompt" in rec and "response" in rec:
        return [{"role": "user", "content": rec["prompt"]}, {"role": "assistant", "content": rec["response"]}]
    else:
        raise ChatFormatError(f"unknown record schema with keys {sorted(rec)}")
    return ([{"role": "system", "content": rec["system"]}] if rec.get("system") else []) + msgs


def to_messages(rec: dict[str, Any]) -> list[dict[str, str]]:
    """One record of any supported schema as a list of {role, content} messages."""
    msgs = _schema_messages(rec)
    if not any(m["role"] == "assistant" for m in msgs):
        raise ChatFormatError("no assistant turn")
    if any(m["role"] == "assistant" and isinstance(m["content"], str) and not m["content"].strip() for m in msgs):
        raise ChatFormatError("an empty assistant turn")
    return msgs


# The text normalization of the pretraining corpus (lmforge.text.normalize), applied to chat text
# so that both read the same: "nfkc-cjk" keeps full-width Chinese punctuation, "nfkc" folds it.
Normalization = Literal["nfkc-cjk", "nfkc", "none"]


def normalize_messages(messages: list[dict[str, Any]], how: Normalization = "none") -> list[dict[str, Any]]:
    """The messages with each string content normalized `how` (others left for the checks)."""
    if how == "none":
        return messages
    keep = how == "nfkc-cjk"
    return [{**m, "content": normalize(m["content"], "NFKC", keep)}
            if isinstance(m, dict) and isinstance(m.get("content"), str) else m for m in messages]


def encode(tokenizer, messages: list[dict[str, str]], how: Normalization = "none") -> tuple[list[int], list[int]]:
    """(input_ids, labels) where labels are -100 outside assistant tokens; the text normalized `how`."""
    ids, mask = render(tokenizer, normalize_messages(messages, how))
    return ids, [t if m else IGNORE for t, m in zip(ids, mask)]


# The first words of a chat-format error -> the sentence a skip count is reported under.
_REASONS = (("unknown role", "a role other than system/user/assistant (ShareGPT: human/gpt)"),
            ("unknown record schema", "none of the known record schemas (messages, conversations, "
                                      "instruction/output, prompt/response)"),
            ("no assistant turn", "no assistant turn to learn from"),
            ("an empty assistant turn", "an empty assistant turn"),
            ("empty conversation", "an empty conversation"),
            ("message", "a message without a known role or without text content"),
            ("the tokenizer has no chat_template", "the tokenizer has no chat template"))
SHOWN = 5  # skipped records named (`file:line: why`) in a warning or error


def skip_reason(error: Exception) -> str:
    """A readable, countable reason for a record that cannot be a conversation."""
    text = str(error)
    why = next((reason for start, reason in _REASONS if text.startswith(start)),
               text.split(":")[0].split(", got ")[0][:60])
    return f"skipped: {why}"


class Skips(Counter):
    """Records kept, cut, dropped and skipped (by reason), with the first few `where: why`."""

    def __init__(self) -> None:
        super().__init__()
        self.problems: list[str] = []

    def skip(self, reason: str, where: str, detail: str) -> None:
        self[reason] += 1
        if len(self.problems) < SHOWN:
            self.problems.append(f"{where}: {detail}")

    def report(self, label: str, what: str, files: list[str]) -> None:
        """Print the counts (and the first skipped records); no record left is an error naming them."""
        print(f"{label}:", json.dumps(dict(self), ensure_ascii=False))
        for p in self.problems:
            print(f"  {p}", file=sys.stderr)
        if not self["kept"]:
            shown = "".join(f"; {p}" for p in self.problems)
            raise UserError(f"{', '.join(files)}: no {what} left to train on ({sum(self.values())} record(s)){shown}")


def located(records: Iterable[dict[str, Any] | tuple[str, dict[str, Any]]]) -> Iterator[tuple[str, dict[str, Any]]]:
    """(`file:line` or `record N`, record) for records given bare or with their place."""
    for i, item in enumerate(records, 1):
        yield item if isinstance(item, tuple) else (f"record {i}", item)


def encode_records(tokenizer, records: Iterable[dict[str, Any] | tuple[str, dict[str, Any]]], max_len: int,
                   truncation: str = "drop", how: Normalization = "none"
                   ) -> tuple[list[tuple[list[int], list[int]]], Skips]:
    """Encode all records (bare, or as (`file:line`, record)); bad ones and (with truncation='drop')
    long ones are counted and skipped, the first few bad ones named."""
    if truncation not in ("drop", "cut"):
        raise UserError(f"truncation must be 'drop' or 'cut', got {truncation!r}")
    out, stats = [], Skips()
    for where, rec in located(records):
        try:
            ids, labels = encode(tokenizer, to_messages(rec), how)
        except ChatFormatError as e:
            stats.skip(skip_reason(e), where, str(e))
            continue
        if len(ids) > max_len:
            if truncation == "drop":
                stats["dropped (too long)"] += 1
                continue
            ids, labels = ids[:max_len], labels[:max_len]
            stats["cut (too long)"] += 1
        if all(x == IGNORE for x in labels[1:]):
            stats.skip("skipped: no trainable token", where, "no assistant token left to learn from")
            continue
        out.append((ids, labels))
        stats["kept"] += 1
    return out, stats


class SFTBatches:
    """Length-bucketed batches of (input_ids, labels, attention_mask), padded on the right.
    With pack=True several samples share a row; a (B,1,T,T) block-causal mask stops attention
    across samples and position_ids restart at each sample."""

    def __init__(self, samples: list[tuple[list[int], list[int]]], batch_size: int, pad_id: int = 0,
                 seed: int = 0, pack: bool = False, seq_len: int | None = None, bucket: int = 64):
        if not samples:
            raise UserError("no SFT samples left to train on")
        self.samples, self.batch_size, self.pad_id = samples, batch_size, pad_id
        self.seed, self.pack, self.bucket = seed, pack, bucket
        self.seq_len = seq_len or max(len(s[0]) for s in samples)
        self.epoch, self.pos = 0, 0
        self.order = self._plan()

    def _plan(self) -> list[list[int]]:
        rng = random.Random(self.seed + self.epoch)
        idx = list(range(len(self.samples)))
        rng.shuffle(idx)
        if self.pack:
            rows, cur, used = [], [], 0
            for i in sorted(idx, key=lambda i: -len(self.samples[i][0])):
                n = len(self.samples[i][0])
                if cur and used + n > self.seq_len:
                    rows.append(cur)
                    cur, used = [], 0
                cur.append(i)
                used += n
            rows.append(cur)
            rng.shuffle(rows)
            return [rows[j:j + self.batch_size] for j in range(0, len(rows), self.batch_size)]
        # bucket: sort shuffled chunks of bucket*batch by length, then shuffle the batches
        chunk = self.bucket * self.batch_size
        batches = []
        for c in range(0, len(idx), chunk):
            part = sorted(idx[c:c + chunk], key=lambda i: len(self.samples[i][0]))
            batches += [part[j:j + self.batch_size] for j in range(0, len(part), self.batch_size)]
        rng.shuffle(batches)
        return batches

    def next_batch(self) -> dict[str, torch.Tensor]:
        if self.pos >= len(self.order):
            self.epoch, self.pos = self.epoch + 1, 0
            self.order = self._plan()
        group = self.order[self.pos]
        self.pos += 1
        return self._packed(group) if self.pack else self.collate([self.samples[i] for i in group], self.pad_id)

    @staticmethod
    def collate(samples: list[tuple[list[int], list[int]]], pad_id: int) -> dict[str, torch.Tensor]:
        t = max(len(s[0]) for s in samples)
        ids = torch.full((len(samples), t), pad_id, dtype=torch.long)
        labels = torch.full((len(samples), t), IGNORE, dtype=torch.long)
        att = torch.zeros((len(samples), t), dtype=torch.long)
        for r, (a, b) in enumerate(samples):
            ids[r, :len(a)], labels[r, :len(b)], att[r, :len(a)] = torch.tensor(a), torch.tensor(b), 1
        return {"input_ids": ids, "labels": labels, "attention_mask": att}

    def _packed(self, rows: list[list[int]]) -> dict[str, torch.Tensor]:
        t = self.seq_len
        b = len(rows)
        ids = torch.full((b, t), self.pad_id, dtype=torch.long)
        labels = torch.full((b, t), IGNORE, dtype=torch.long)
        pos = torch.zeros((b, t), dtype=torch.long)
        seg = torch.full((b, t), -1, dtype=torch.long)
        for r, row in enumerate(rows):
            at = 0
            for k, i in enumerate(row):
                a, lab = self.samples[i]
                a, lab = a[:t - at], lab[:t - at]
                n = len(a)
                ids[r, at:at + n], labels[r, at:at + n] = torch.tensor(a), torch.tensor(lab)
                # the first label of each sample must not be predicted from the previous one
                labels[r, at] = IGNORE
                pos[r, at:at + n], seg[r, at:at + n] = torch.arange(n), k
                at += n
        causal = torch.ones(t, t, dtype=torch.bool).tril()
        same = (seg[:, :, None] == seg[:, None, :]) & (seg[:, :, None] >= 0)
        mask = (same & causal)[:, None]
        mask |= torch.eye(t, dtype=torch.bool)[None, None]  # padding rows attend to themselves
        return {"input_ids": ids, "labels": labels, "attention_mask": mask, "position_ids": pos}

    def state_dict(self) -> dict[str, Any]:
        return {"epoch": self.epoch, "pos": self.pos}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.epoch, self.pos = state["epoch"], state["pos"]
        self.order = self._plan()
