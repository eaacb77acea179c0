"""Recipe stage `transcript`: what a user sees from the final model. A few skill questions with
the expected and the model's answers, the skill test asked as the first and as the second turn of
a chat (exact match with n and a 95% Wilson interval each), and short chats in which the model's
own replies are the history of the next turn."""

from __future__ import annotations

from typing import Any

from pydantic import Field

from lmforge.eval.answers import exact_match
from lmforge.eval.generation import chat_answers
from lmforge.model.loader import load_for_inference
from lmforge.recipes.kinds import StageContext, StageParams, stage_kind
from lmforge.stats import change, paired_difference, proportion
from lmforge.text import read_jsonl


class TranscriptParams(StageParams):
    model: str = Field(description="model folder (with its tokenizer) to talk to")
    chats: list[list[str]] = Field(default_factory=list, description=(
        "conversations, each a list of user turns asked in order; the model's replies stay in the history"))
    skill_test: str | None = Field(None, description="skill records (messages + answer): examples and first-turn score")
    skill_test_2turn: str | None = Field(None, description=(
        "the same questions as second turns (after another question and its reference answer)"))
    examples: int = Field(6, ge=0, description="skill questions shown with the expected and the model's answer")
    max_new_tokens: int = Field(48, gt=0, description="reply length limit")


def chat_transcript(model, tok, chats: list[list[str]], max_new_tokens: int) -> list[dict[str, Any]]:
    """One row per turn: the user's message and the model's greedy reply (earlier replies as history)."""
    rows = []
    for c, turns in enumerate(chats, 1):
        history: list[dict[str, str]] = []
        for t, user in enumerate(turns, 1):
            history.append({"role": "user", "content": user})
            reply = chat_answers(model, tok, [history], max_new_tokens)[0]
            history.append({"role": "assistant", "content": reply})
            rows.append({"chat": c, "turn": t, "user": user, "model": reply})
    return rows


def _question(rec: dict[str, Any]) -> str:
    return next(m["content"] for m in reversed(rec["messages"]) if m["role"] == "user")


def turn_scores(model, tok, records: list[dict[str, Any]], max_new_tokens: int) -> tuple[list[bool], list[dict]]:
    """Exact match per record (the chat before its last reply, answered greedily) and the rows
    question / expected / model answer."""
    convs = [r["messages"][:-1] if r["messages"][-1]["role"] == "assistant" else r["messages"] for r in records]
    preds = chat_answers(model, tok, convs, max_new_tokens)
    hits = [exact_match(p, r["answer"]) for p, r in zip(preds, records)]
    rows = [{"lang": r.get("lang", ""), "question": _question(r), "expected": r["answer"], "model": p, "exact": h}
            for r, p, h in zip(records, preds, hits)]
    return hits, rows


def _mixed(rows: list[dict[str, Any]], k: int) -> list[dict[str, Any]]:
    """The first k rows, taking Chinese and English questions in turn."""
    zh = [r for r in rows if r["lang"] == "zh"]
    en = [r for r in rows if r["lang"] != "zh"]
    mixed = [r for pair in zip(zh, en) for r in pair] + zh[len(en):] + en[len(zh):]
    return mixed[:k]


@stage_kind("transcript", TranscriptParams)
def transcript(p: TranscriptParams, ctx: StageContext) -> tuple[str, dict[str, Any]]:
    """Skill examples, first- vs second-turn exact match, and chat transcripts of one model."""
    loaded = load_for_inference(p.model)
    model, tok = loaded.model, loaded.tokenizer
    tables: dict[str, list[dict[str, Any]]] = {}
    headline: dict[str, Any] = {}
    summary: dict[str, Any] = {"model": p.model}
    turns = [("turn 1", p.skill_test), ("turn 2", p.skill_test_2turn)]
    asked: dict[str, tuple[list[str], list[bool]]] = {}
    for label, path in [(lb, f) for lb, f in turns if f]:
        records = read_jsonl(path)
        hits, rows = turn_scores(model, tok, records, p.max_new_tokens)
        asked[label] = ([_question(r) for r in records], hits)
        score = summary[f"skill_exact_match_{label.replace(' ', '')}"] = proportion(sum(hits), len(hits))
        headline[f"skill exact match as chat {label}"] = score
        if label == "turn 1" and p.examples:
            tables["skill questions: expected and model answers"] = _mixed(rows, p.examples)
    if len(headline) == 2:
        headline["skill exact match, turn 1 -> turn 2 (the same questions)"] = change(*headline.values())
        (q1, h1), (q2, h2) = asked["turn 1"], asked["turn 2"]
        if q1 == q2:  # the same question at each index: the change can be paired
            headline["skill exact match change, turn 1 -> turn 2, paired by question"] = paired_difference(
                [float(b) - float(a) for a, b in zip(h1, h2)], unit="questions")
    if p.chats:
        tables["chat transcript (greedy; the model's replies are the history)"] = \
            chat_transcript(model, tok, p.chats, p.max_new_tokens)
    summary.update(headline=headline, tables=tables)
    return p.model, summary
