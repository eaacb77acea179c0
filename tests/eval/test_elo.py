import json
import random

import httpx

from lmforge.client import ChatClient
from lmforge.eval.elo import JUDGE_PROMPT, elo_with_ci, judge, parse_verdict


def test_stronger_model_ranks_first_with_ci():
    rng = random.Random(0)
    strength = {"big": 0.8, "mid": 0.5, "small": 0.2}
    battles = []
    for _ in range(600):
        a, b = rng.sample(list(strength), 2)
        p = 0.5 + (strength[a] - strength[b]) / 2
        battles.append((a, b, 1.0 if rng.random() < p else 0.0))
    r = elo_with_ci(battles, rounds=50)
    assert list(r) == ["big", "mid", "small"]
    assert r["big"]["lo"] > r["small"]["hi"] and r["mid"]["lo"] < r["mid"]["elo"] < r["mid"]["hi"]


def test_parse_verdict():
    assert parse_verdict("A") == 1.0 and parse_verdict(" B.") == 0.0
    assert parse_verdict("Tie") == 0.5 and parse_verdict("neither") is None


def test_judge_asks_the_endpoint_through_chat_client():
    seen = []

    def endpoint(request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content)
        seen.append((request.url.path, body))
        verdict = "B" if "seven" in body["messages"][0]["content"] else "tie"
        return httpx.Response(200, json={"choices": [{"message": {"role": "assistant", "content": verdict}}]})

    client = ChatClient("http://judge.test", model="judge")
    client.http = httpx.Client(transport=httpx.MockTransport(endpoint))
    assert judge("3 + 4?", "six", "seven", client) == 0.0
    assert judge("2 + 2?", "four", "4", client) == 0.5
    path, body = seen[0]
    assert path == "/v1/chat/completions" and body["model"] == "judge" and body["temperature"] == 0.0
    assert body["messages"][0]["content"] == JUDGE_PROMPT.format(q="3 + 4?", a="six", b="seven")
