"""Batched log-likelihood scoring (lm-eval's `loglikelihood` semantics) and scoring one multiple-choice
task by it (`lmforge eval mc` runs it: lmforge.eval.multiple_choice)."""

from __future__ import annotations

from typing import Sequence

import torch
from tqdm import tqdm

from lmforge.errors import UserError
from lmforge.eval.categories import category
from lmforge.eval.task import LETTERS, MCTask
from lmforge.model.transformer import CausalLM
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


@torch.inference_mode()
def loglikelihood(model: CausalLM, tok: Tokenizer, requests: Sequence[tuple[str, str]],
                  batch_size: int = 16, max_length: int | None = None,
                  progress: bool = True) -> list[tuple[float, bool]]:
    """(sum log p(continuation | context), is_greedy) per request. Requests with the same model
    input (e.g. the one-token choices " A".." D" of one question) share one row of the batch;
    rows run longest first, right-padded."""
    max_length = max_length or model.config.max_position_embeddings
    device = next(model.parameters()).device
    rows: dict[tuple[int, ...], int] = {}
    reqs = []  # (row, n continuation tokens, targets)
    for ctx, cont in requests:
        c, k = encode_pair(tok, ctx, cont)
        if not k:
            raise UserError(f"empty continuation for context ending {ctx[-40:]!r}")
        full = (c + k)[-(max_length + 1):]
        reqs.append((rows.setdefault(tuple(full[:-1]), len(rows)), len(k), full[-len(k):]))
    inputs = list(rows)
    by_row: dict[int, list[int]] = {}
    for i, (r, _, _) in enumerate(reqs):
        by_row.setdefault(r, []).append(i)
    order = sorted(range(len(inputs)), key=lambda r: -len(inputs[r]))
    out: list[tuple[float, bool]] = [(0.0, False)] * len(reqs)
    bar = tqdm(total=len(reqs), desc="scoring", disable=not progress, leave=False)
    for start in range(0, len(order), batch_size):
        idx = order[start:start + batch_size]
        width = len(inputs[idx[0]])
        ids = torch.full((len(idx), width), tok.pad_id, dtype=torch.long)
        mask = torch.zeros_like(ids)
        for b, r in enumerate(idx):
            ids[b, :len(inputs[r])] = torch.tensor(inputs[r])
            mask[b, :len(inputs[r])] = 1
        logp = torch.log_softmax(model(ids.to(device), attention_mask=mask.to(device)).float(), -1)
        for b, r in enumerate(idx):
            length = len(inputs[r])
            for i in by_row[r]:
                _, n, target = reqs[i]
                lp = logp[b, length - n:length]
                tgt = torch.tensor(target, device=device)
                out[i] = (lp.gather(-1, tgt[:, None]).sum().item(), bool((lp.argmax(-1) == tgt).all()))
                bar.update(1)
    bar.close()
    return out


def evaluate_mc(model: CausalLM, tok: Tokenizer, task: MCTask, shots: int = 0,
                batch_size: int = 16, limit: int | None = None, progress: bool = True) -> dict:
    """acc and acc_norm (log-likelihood / continuation bytes) overall, per subject, with per-item
    choice log-likelihoods."""
    items = task.items[:limit] if limit else task.items
    requests = [(task.prompt(x, shots), " " + LETTERS[j]) for x in items
                for j in range(len(x.choices))]
    scores = loglikelihood(model, tok, requests, batch_size, progress=progress)
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
    return {"task": task.name, "shots": shots, "n": len(per_item),
            "acc": _mean(per_item, "acc"), "acc_norm": _mean(per_item, "acc_norm"),
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
