"""Elo ratings from pairwise judgments (any OpenAI-compatible judge), with bootstrap CIs."""

from __future__ import annotations

import itertools
import random
from collections import Counter
import re
from pathlib import Path
from typing import Sequence

import numpy as np
from pydantic import Field, ValidationInfo, field_validator

from lmforge.client import ChatClient
from lmforge.errors import UserError
from lmforge.eval.generation import chat_answers
from lmforge.eval.operation import EvalResult, EvalSettings, check_out, finish, markdown, must_exist
from lmforge.eval.tasks.mc import read_jsonl
from lmforge.model.loader import Loaded, load_for_inference

Battle = tuple[str, str, float]  # (model a, model b, score of a: 1 win, 0.5 tie, 0 loss)

JUDGE_PROMPT = ("Compare two answers to the question. Reply with exactly one of: A, B, tie.\n\n"
                "Question: {q}\n\nAnswer A: {a}\n\nAnswer B: {b}\n\nBetter answer:")


def elo(battles: Sequence[Battle], k: float = 4.0, base: float = 1000.0,
        scale: float = 400.0) -> dict[str, float]:
    """Sequential Elo updates over the battles in the given order."""
    r: dict[str, float] = {}
    for a, b, s in battles:
        ra, rb = r.setdefault(a, base), r.setdefault(b, base)
        ea = 1 / (1 + 10 ** ((rb - ra) / scale))
        r[a], r[b] = ra + k * (s - ea), rb - k * (s - ea)
    return r


def elo_with_ci(battles: Sequence[Battle], rounds: int = 200, seed: int = 0,
                k: float = 4.0) -> dict[str, dict[str, float]]:
    """Median rating and 95% interval (2.5 and 97.5 percentiles) over `rounds` bootstrap resamples
    of the games (drawn with replacement, so each in a new order), as Chatbot Arena reports; and
    the number of judged games each model played (its n). No chance level: ratings are relative."""
    if not battles:
        raise UserError("elo: no readable judgments")
    rng = random.Random(seed)
    samples = [elo([rng.choice(battles) for _ in battles], k) for _ in range(rounds)]
    names = sorted({m for a, b, _ in battles for m in (a, b)})
    games = Counter(m for a, b, _ in battles for m in (a, b))
    out = {}
    for m in names:
        v = np.array([s.get(m, 1000.0) for s in samples])
        out[m] = {"elo": float(np.median(v)), "lo": float(np.percentile(v, 2.5)),
                  "hi": float(np.percentile(v, 97.5)), "games": games[m]}
    return dict(sorted(out.items(), key=lambda kv: -kv[1]["elo"]))


def parse_verdict(text: str) -> float | None:
    """1.0 when A wins, 0.0 when B wins, 0.5 for a tie, None when unreadable."""
    m = re.search(r"\b(A|B|tie)\b", text.strip(), re.I)
    return None if m is None else {"a": 1.0, "b": 0.0, "tie": 0.5}[m.group(1).lower()]


def judge(question: str, answer_a: str, answer_b: str, client: ChatClient) -> float | None:
    """Ask an OpenAI-compatible judge (e.g. `lmforge serve`) which answer is better."""
    prompt = JUDGE_PROMPT.format(q=question, a=answer_a, b=answer_b)
    reply = client.chat([{"role": "user", "content": prompt}], temperature=0.0, max_tokens=8)
    return parse_verdict(reply)


class EloConfig(EvalSettings):
    """`lmforge eval elo`: models' answers to the same questions judged pairwise (both orders, so
    the judge's position bias cancels) by an OpenAI-compatible endpoint or a local chat model;
    Elo ratings with bootstrap 95% intervals. device/dtype apply to a local judge."""

    answers: str = Field(description='jsonl records {"question": ..., "answers": {model label: answer, ...}} '
                                     "(two or more labels)")
    judge: str = Field(description="judge: an http(s):// OpenAI-compatible URL (lmforge serve, vLLM, ...) "
                                   "or a chat model folder")
    judge_model: str | None = Field(None, description="model id at the judge URL (default: its first)")
    api_key: str | None = Field(None, description="judge URL's API key")
    rounds: int = Field(200, gt=0, description="bootstrap resamples")
    k: float = Field(4.0, gt=0, description="Elo update step")
    seed: int = Field(0, ge=0, lt=2**63, description="bootstrap seed")

    _exist = field_validator("answers")(must_exist)

    @field_validator("judge")
    @classmethod
    def _judge(cls, judge: str, info: ValidationInfo) -> str:
        made_later = (info.context or {}).get("files_made_later")
        if not made_later and not is_url(judge) and not (Path(judge) / "config.json").is_file():
            raise ValueError(f"{judge} is neither an http(s):// URL nor a model folder")
        return judge


def is_url(judge: str) -> bool:
    return judge.startswith(("http://", "https://"))


Match = tuple[str, str, str, str, str]  # (question, model a, answer a, model b, answer b)


def read_matches(path: str, limit: int | None = None) -> list[Match]:
    """Every pair of labels of every question, in both orders."""
    rows = read_jsonl(Path(path))[:limit]
    if not rows:
        raise UserError(f"{path}: no records (empty file)")
    matches = []
    for r in rows:
        answers = r.get("answers")
        if not isinstance(r.get("question"), str) or not isinstance(answers, dict) or len(answers) < 2:
            raise UserError(f"{r['_where']}: needs 'question' (text) and 'answers' {{label: text}} "
                            "with two or more labels")
        for a, b in itertools.permutations(sorted(answers), 2):
            matches.append((r["question"], a, str(answers[a]), b, str(answers[b])))
    return matches


def local_verdicts(judge: Loaded, matches: list[Match]) -> list[float | None]:
    """Greedy verdicts of a local chat model."""
    if not judge.tokenizer.chat_template:
        raise UserError(f"judge: {judge.folder} has no chat_template in tokenizer_config.json")
    convs = [[{"role": "user", "content": JUDGE_PROMPT.format(q=q, a=x, b=y)}] for q, _, x, _, y in matches]
    return [parse_verdict(r) for r in chat_answers(judge.model, judge.tokenizer, convs, max_new_tokens=8)]


def run_elo(cfg: EloConfig, judge_model: Loaded | None = None) -> EvalResult:
    """Ratings {label: {elo, lo, hi, games}}, the number of judged battles and of unreadable verdicts."""
    check_out(cfg)
    matches = read_matches(cfg.answers, cfg.limit)
    if is_url(cfg.judge):
        client = ChatClient(cfg.judge, model=cfg.judge_model, api_key=cfg.api_key)
        verdicts = [judge(q, x, y, client) for q, _, x, _, y in matches]
    else:
        verdicts = local_verdicts(judge_model or load_for_inference(cfg.judge, cfg.device, cfg.dtype), matches)
    battles = [(a, b, v) for (_, a, _, b, _), v in zip(matches, verdicts) if v is not None]
    ratings = elo_with_ci(battles, cfg.rounds, cfg.seed, cfg.k)
    results = {"ratings": ratings, "battles": len(battles), "unreadable": len(matches) - len(battles)}
    report = markdown(["model", "games", "elo", "95% low", "95% high"],
                      [[m, r["games"], r["elo"], r["lo"], r["hi"]] for m, r in ratings.items()])
    report += (f"\nn = {len(battles)} judged games ({results['unreadable']} unreadable verdicts left out); "
               f"elo: the median over {cfg.rounds} bootstrap resamples of the games, 95% interval their "
               "2.5 and 97.5 percentiles. No chance level: ratings are relative to each other.\n")
    return finish(cfg, "elo", results, report)
