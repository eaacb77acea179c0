"""Elo ratings from pairwise judgments (any OpenAI-compatible judge), with bootstrap CIs."""

from __future__ import annotations

import random
import re
from typing import Sequence

import numpy as np

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
    """Median rating and 95% interval over `rounds` bootstrap resamples (shuffled order each)."""
    if not battles:
        raise ValueError("elo: no judgments")
    rng = random.Random(seed)
    samples = [elo([rng.choice(battles) for _ in battles], k) for _ in range(rounds)]
    names = sorted({m for a, b, _ in battles for m in (a, b)})
    out = {}
    for m in names:
        v = np.array([s.get(m, 1000.0) for s in samples])
        out[m] = {"elo": float(np.median(v)), "lo": float(np.percentile(v, 2.5)),
                  "hi": float(np.percentile(v, 97.5))}
    return dict(sorted(out.items(), key=lambda kv: -kv[1]["elo"]))


def parse_verdict(text: str) -> float | None:
    """1.0 when A wins, 0.0 when B wins, 0.5 for a tie, None when unreadable."""
    m = re.search(r"\b(A|B|tie)\b", text.strip(), re.I)
    return None if m is None else {"a": 1.0, "b": 0.0, "tie": 0.5}[m.group(1).lower()]


def judge(question: str, answer_a: str, answer_b: str, base_url: str, model: str,
          api_key: str = "none") -> float | None:
    """Ask an OpenAI-compatible endpoint (e.g. `lmforge serve`) which answer is better."""
    from openai import OpenAI
    client = OpenAI(base_url=base_url, api_key=api_key)
    reply = client.chat.completions.create(model=model, temperature=0.0, max_tokens=8, messages=[
        {"role": "user", "content": JUDGE_PROMPT.format(q=question, a=answer_a, b=answer_b)}])
    return parse_verdict(reply.choices[0].message.content or "")
