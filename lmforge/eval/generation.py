"""Greedy answers of a chat model (rendered with its chat template) and exact-match accuracy:
how the demo and the tests measure a skill before and after SFT."""

from __future__ import annotations

from typing import Any, Sequence

from lmforge.model.generate import SamplingParams, generate
from lmforge.model.transformer import CausalLM
from lmforge.tokenizer.chat_template import END_OF_TURN, render, template_name
from lmforge.tokenizer.core import Tokenizer


def _stop_ids(tok: Tokenizer) -> list[int]:
    name = template_name(tok.chat_template or "")
    ids = {tok.token_id(END_OF_TURN.get(name) if name else None), tok.eos_id}
    return sorted(i for i in ids if i is not None)


def chat_answers(model: CausalLM, tok: Tokenizer, conversations: Sequence[list[dict[str, str]]],
                 max_new_tokens: int = 32, batch_size: int = 32) -> list[str]:
    """The model's greedy reply to each conversation (ending in a user turn), cut at the end of turn."""
    was = model.training
    model.eval()
    params = SamplingParams(max_new_tokens=max_new_tokens, stop_token_ids=_stop_ids(tok))
    out: list[str] = []
    for i in range(0, len(conversations), batch_size):
        prompts = [render(tok, c, add_generation_prompt=True)[0] for c in conversations[i:i + batch_size]]
        out += [tok.decode(o) for o in generate(model, prompts, params, pad_id=tok.pad_id)]
    model.train(was)
    return out


def chat_exact_match(model: CausalLM, tok: Tokenizer, records: Sequence[dict[str, Any]],
                     max_new_tokens: int = 32) -> dict[str, Any]:
    """Exact-match accuracy on records `{"messages": [..., user], "answer": str}` (a trailing
    assistant turn, if present, is the reference and is not shown to the model)."""
    from lmforge.synth.skills import exact_match

    convs, answers = [], []
    for n, r in enumerate(records):
        if "answer" not in r or "messages" not in r:
            raise ValueError(f"record {n}: needs 'messages' and 'answer' keys, has {sorted(r)}")
        msgs = list(r["messages"])
        convs.append(msgs[:-1] if msgs and msgs[-1]["role"] == "assistant" else msgs)
        answers.append(r["answer"])
    preds = chat_answers(model, tok, convs, max_new_tokens)
    hits = [exact_match(p, a) for p, a in zip(preds, answers)]
    return {"n": len(hits), "exact_match": sum(hits) / max(len(hits), 1),
            "examples": [{"prediction": p, "answer": a} for p, a in list(zip(preds, answers))[:5]]}
