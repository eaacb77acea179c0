"""Greedy answers of a chat model (rendered with its chat template) and exact-match accuracy:
how the demo and the tests measure a skill before and after SFT."""

from __future__ import annotations

from typing import Any, Sequence

from lmforge.errors import UserError
from lmforge.eval.answers import choice_from_answer, exact_match
from lmforge.model.generate import SamplingParams, generate
from lmforge.model.loader import stop_token_ids
from lmforge.model.transformer import CausalLM
from lmforge.stats import wilson
from lmforge.tokenizer.chat_template import render
from lmforge.tokenizer.core import Tokenizer


def chat_answers(model: CausalLM, tok: Tokenizer, conversations: Sequence[list[dict[str, str]]],
                 max_new_tokens: int = 32, batch_size: int = 32) -> list[str]:
    """The model's greedy reply to each conversation (ending in a user turn), cut at the end of turn."""
    was = model.training
    model.eval()
    params = SamplingParams(max_new_tokens=max_new_tokens, stop_token_ids=stop_token_ids(tok, model.config))
    out: list[str] = []
    for i in range(0, len(conversations), batch_size):
        prompts = [render(tok, c, add_generation_prompt=True)[0] for c in conversations[i:i + batch_size]]
        out += [tok.decode(o) for o in generate(model, prompts, params, pad_id=tok.pad_id)]
    model.train(was)
    return out


def chat_exact_match(model: CausalLM, tok: Tokenizer, records: Sequence[dict[str, Any]],
                     max_new_tokens: int = 32) -> dict[str, Any]:
    """Exact-match accuracy on records `{"messages": [..., user], "answer": str}` (a trailing
    assistant turn, if present, is the reference and is not shown to the model), with its Wilson
    95% interval over the n records (no chance level: free text) and each record's hit (for
    paired before/after comparisons)."""
    convs, answers = [], []
    for n, r in enumerate(records):
        if "answer" not in r or "messages" not in r:
            raise UserError(f"record {n}: needs 'messages' and 'answer' keys, has {sorted(r)}")
        msgs = list(r["messages"])
        convs.append(msgs[:-1] if msgs and msgs[-1]["role"] == "assistant" else msgs)
        answers.append(r["answer"])
    preds = chat_answers(model, tok, convs, max_new_tokens)
    hits = [exact_match(p, a) for p, a in zip(preds, answers)]
    return {"n": len(hits), "exact_match": sum(hits) / max(len(hits), 1),
            "exact_match_ci95": list(wilson(sum(hits), len(hits))), "hits": hits,
            "examples": [{"prediction": p, "answer": a} for p, a in list(zip(preds, answers))[:5]]}


def evaluate_mc_chat(model: CausalLM, tok: Tokenizer, task, shots: int = 0, limit: int | None = None,
                     max_new_tokens: int = 32) -> dict[str, Any]:
    """Multiple choice answered in free text by a chat model: the question (with its k-shot
    examples) as one user turn, a greedy reply, the choice read from it. `unparsed` counts
    replies that name no option (scored wrong). acc with its Wilson 95% interval."""
    items = task.items[:limit]
    replies = chat_answers(model, tok, [[{"role": "user", "content": task.prompt(x, shots)}] for x in items],
                           max_new_tokens)
    picked = [choice_from_answer(r, x.choices) for r, x in zip(replies, items)]
    hits = [p == x.answer for p, x in zip(picked, items)]
    by_subject: dict[str, list[bool]] = {}
    for x, h in zip(items, hits):
        by_subject.setdefault(x.subject, []).append(h)
    n = max(len(items), 1)
    return {"n": len(items), "acc": sum(hits) / n, "acc_ci95": list(wilson(sum(hits), len(items))),
            "unparsed": sum(p is None for p in picked) / n,
            "subjects": {s: {"n": len(h), "acc": sum(h) / len(h)} for s, h in by_subject.items()},
            "examples": [{"reply": r, "answer": x.choices[x.answer]} for r, x in list(zip(replies, items))[:3]]}
