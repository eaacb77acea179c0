"""Batched log-likelihood scoring (lm-eval's `loglikelihood` semantics) and scoring one multiple-choice
task by it (`lmforge eval mc` runs it: lmforge.eval.multiple_choice)."""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from dataclasses import dataclass, field

import torch
from tqdm import tqdm

from lmforge.errors import UserError
from lmforge.eval.categories import category
from lmforge.eval.task import LETTERS, MCTask
from lmforge.model.cache import KVCache
from lmforge.model.transformer import CausalLM
from lmforge.stats import wilson
from lmforge.tokenizer.core import Tokenizer


def encode_pair(tok: Tokenizer, context: str, continuation: str) -> tuple[list[int], list[int]]:
    """As lm-eval: trailing context spaces move to the continuation; the continuation's tokens
    are those of `context + continuation` past the context's own tokens."""
    n = len(context) - len(context.rstrip())
    if n:
        context, continuation = context[:-n], context[-n:] + continuation
    whole = tok.encode(context + continuation)
    ctx = tok.encode(context)
    return ctx, whole[len(ctx):]


@dataclass
class _Row:
    """One distinct model input and the requests read from its last positions."""
    ids: tuple[int, ...]
    group: Hashable
    reqs: list[tuple[int, list[int]]] = field(default_factory=list)  # (request index, target ids)

    @property
    def need(self) -> int:
        """Positions at the end of the row whose log-probabilities are read."""
        return max(len(t) for _, t in self.reqs)


def _rows(tok: Tokenizer, requests: Sequence[tuple[str, str]], groups: Sequence[Hashable],
          max_length: int) -> list[_Row]:
    """Requests with the same model input (e.g. the one-token choices " A".." D" of one question)
    share one row."""
    rows: dict[tuple[int, ...], _Row] = {}
    for i, ((ctx, cont), group) in enumerate(zip(requests, groups)):
        c, k = encode_pair(tok, ctx, cont)
        if not k:
            raise UserError(f"empty continuation for context ending {ctx[-40:]!r}")
        full = (c + k)[-(max_length + 1):]
        key = tuple(full[:-1])
        rows.setdefault(key, _Row(key, group)).reqs.append((i, full[-len(k):]))
    return list(rows.values())


def shared_prefix(rows: Sequence[_Row]) -> int:
    """Length of the token prefix common to all rows, short of every position that is read."""
    first, n = rows[0].ids, min(len(r.ids) - r.need for r in rows)
    for r in rows[1:]:
        i = 0
        while i < n and r.ids[i] == first[i]:
            i += 1
        n = i
    return n


@torch.inference_mode()
def loglikelihood(model: CausalLM, tok: Tokenizer, requests: Sequence[tuple[str, str]],
                  batch_size: int = 16, max_length: int | None = None, progress: bool = True,
                  groups: Sequence[Hashable] | None = None) -> list[tuple[float, bool]]:
    """(sum log p(continuation | context), is_greedy) per request. Requests with the same model
    input share one row; rows run longest first, right-padded. With `groups` (one key per
    request, e.g. the subject) the token prefix common to a group's rows (instruction and
    few-shot examples) runs once and every batch of the group continues its KV cache, as a
    serving engine reuses a shared prompt (a batch then takes as many rows as `batch_size` full
    rows have tokens); without, every row runs in full."""
    max_length = max_length or model.config.max_position_embeddings
    device = next(model.parameters()).device
    rows = _rows(tok, requests, groups if groups is not None else [None] * len(requests), max_length)
    by_group: dict[Hashable, list[_Row]] = {}
    for row in sorted(rows, key=lambda r: -len(r.ids)):
        by_group.setdefault(row.group, []).append(row)
    out: list[tuple[float, bool]] = [(0.0, False)] * len(requests)
    bar = tqdm(total=len(requests), desc="scoring", disable=not progress, leave=False)
    for members in by_group.values():
        prefix = shared_prefix(members) if groups is not None else 0
        cache = KVCache(len(model.model.layers))
        if prefix:
            model(torch.tensor([members[0].ids[:prefix]], device=device), cache=cache, return_hidden=True)
        longest = len(members[0].ids)  # a batch holds batch_size full rows' worth of tokens
        step = max(batch_size, batch_size * longest // max(longest - prefix, 1))
        for start in range(0, len(members), step):
            batch = members[start:start + step]
            _score_batch(model, batch, prefix, cache.expand(len(batch)) if prefix else None,
                         tok.pad_id, out)
            bar.update(sum(len(r.reqs) for r in batch))
    bar.close()
    return out


def _score_batch(model: CausalLM, batch: list[_Row], prefix: int, cache: KVCache | None,
                 pad_id: int, out: list[tuple[float, bool]]) -> None:
    """Runs the rows past `prefix` (continuing `cache`); log-probabilities only where read."""
    device = next(model.parameters()).device
    width = len(batch[0].ids) - prefix
    ids = torch.full((len(batch), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(batch), prefix + width), dtype=torch.long)
    mask[:, :prefix] = 1
    for b, row in enumerate(batch):
        ids[b, :len(row.ids) - prefix] = torch.tensor(row.ids[prefix:])
        mask[b, prefix:len(row.ids)] = 1
    hidden = model(ids.to(device), attention_mask=mask.to(device), cache=cache, return_hidden=True)
    picked = torch.cat([hidden[b, len(r.ids) - prefix - r.need:len(r.ids) - prefix]
                        for b, r in enumerate(batch)])
    logp = torch.log_softmax(model.lm_head(picked).float(), -1)
    at = 0
    for row in batch:
        lp_row = logp[at:at + row.need]
        at += row.need
        for i, target in row.reqs:
            lp = lp_row[row.need - len(target):]
            tgt = torch.tensor(target, device=device)
            out[i] = (lp.gather(-1, tgt[:, None]).sum().item(), bool((lp.argmax(-1) == tgt).all()))


def evaluate_mc(model: CausalLM, tok: Tokenizer, task: MCTask, shots: int = 0,
                batch_size: int = 16, limit: int | None = None, progress: bool = True) -> dict:
    """acc and acc_norm (log-likelihood / continuation bytes) overall, per subject, with per-item
    choice log-likelihoods; acc's and acc_norm's Wilson 95% intervals and the chance level (mean 1/choices)."""
    items = task.items[:limit] if limit else task.items
    requests = [(task.prompt(x, shots), " " + LETTERS[j]) for x in items
                for j in range(len(x.choices))]
    groups = [x.subject for x in items for _ in x.choices]  # a subject's questions share its few shots
    scores = loglikelihood(model, tok, requests, batch_size, progress=progress, groups=groups)
    per_item, k = [], 0
    for x in items:
        lls = [s for s, _ in scores[k:k + len(x.choices)]]
        conts = [requests[k + j][1] for j in range(len(x.choices))]
        k += len(x.choices)
        norm = [ll / len(c.encode()) for ll, c in zip(lls, conts)]
        per_item.append({"subject": x.subject, "answer": x.answer, "loglikelihoods": lls,
                         "acc": float(max(range(len(lls)), key=lls.__getitem__) == x.answer),
                         "acc_norm": float(max(range(len(norm)), key=norm.__getitem__) == x.answer)})
    subjects: dict[str, list[dict]] = {}
    for r in per_item:
        subjects.setdefault(r["subject"], []).append(r)
    per_subject = {s: {"n": len(rs), "acc": _mean(rs, "acc"), "acc_norm": _mean(rs, "acc_norm")}
                   for s, rs in sorted(subjects.items())}
    hits, hits_norm = (int(sum(r[key] for r in per_item)) for key in ("acc", "acc_norm"))
    return {"task": task.name, "shots": shots, "n": len(per_item),
            "acc": _mean(per_item, "acc"), "acc_norm": _mean(per_item, "acc_norm"),
            "acc_ci95": list(wilson(hits, len(per_item))), "acc_norm_ci95": list(wilson(hits_norm, len(per_item))),
            "chance": sum(1 / len(x.choices) for x in items) / max(len(items), 1),
            "acc_macro": _macro(per_subject.values()), "categories": _categories(task.name, per_subject),
            "subjects": per_subject, "items": per_item}


def _macro(subjects) -> float:
    subjects = list(subjects)
    return sum(v["acc"] for v in subjects) / max(len(subjects), 1)


def _categories(task: str, per_subject: dict[str, dict]) -> dict[str, dict]:
    """Per category: n, size-weighted acc/acc_norm (over questions) and acc_macro (mean of its
    subjects' accuracies, how C-Eval and CMMLU report)."""
    groups: dict[str, list[dict]] = {}
    for s, v in per_subject.items():
        groups.setdefault(category(task, s), []).append(v)
    out = {}
    for cat, vs in sorted(groups.items()):
        n = sum(v["n"] for v in vs)
        out[cat] = {"n": n, "acc": sum(v["acc"] * v["n"] for v in vs) / n,
                    "acc_norm": sum(v["acc_norm"] * v["n"] for v in vs) / n, "acc_macro": _macro(vs)}
    return out


def _mean(rows: list[dict], key: str) -> float:
    return sum(r[key] for r in rows) / max(len(rows), 1)
