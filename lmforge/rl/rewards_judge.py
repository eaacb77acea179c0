"""An LLM judge as a reward: each (prompt, completion, reference) goes to an OpenAI-compatible
`/v1/chat/completions` endpoint (e.g. `lmforge serve`, vLLM) with a grading prompt; the first
number of the reply, divided by `max_score`, is the reward."""

from __future__ import annotations

import json
import re
import urllib.error
import urllib.request
from collections.abc import Callable
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from lmforge.errors import UserError

DEFAULT_TEMPLATE = ("Rate the answer to the question from 0 to {max_score} ({max_score}: correct and helpful). "
                    "Reply with the number only.\nQuestion: {prompt}\nReference answer: {answer}\n"
                    "Answer: {completion}")
_NUMBER = re.compile(r"-?\d+(?:\.\d+)?")


class JudgeReward(BaseModel):
    model_config = ConfigDict(extra="forbid")
    kind: Literal["judge"] = Field(description="judge: an OpenAI-compatible chat endpoint grades each completion")
    url: str = Field(description="server base URL, e.g. http://127.0.0.1:8000 (the /v1/chat/completions route)")
    model: str = Field("judge", description="`model` field of the request")
    weight: float = Field(1.0, description="weight of this reward in the summed reward")
    max_score: float = Field(10.0, gt=0, description="the grade is divided by this (and capped at 1)")
    template: str = Field(DEFAULT_TEMPLATE, description="grading prompt; {prompt} {completion} {answer} {max_score}")
    timeout: float = Field(60.0, gt=0, description="seconds per request")
    api_key: str | None = Field(None, description="sent as `Authorization: Bearer ...` when set")

    def scorer(self) -> Callable[[list[str], list[str], list[list[dict]]], list[float]]:
        def score(completions: list[str], refs: list[str], prompts: list[list[dict]]) -> list[float]:
            return [self.grade(_last_user(p), c, r) for c, r, p in zip(completions, refs, prompts)]
        return score

    def grade(self, prompt: str, completion: str, answer: str) -> float:
        """The judge's grade of one completion in [0, 1]; a reply without a number scores 0."""
        text = self.template.format(prompt=prompt, completion=completion, answer=answer,
                                    max_score=f"{self.max_score:g}")
        reply = self._ask(text)
        m = _NUMBER.search(reply)
        return 0.0 if m is None else max(0.0, min(1.0, float(m.group()) / self.max_score))

    def _ask(self, text: str) -> str:
        body = json.dumps({"model": self.model, "temperature": 0.0, "max_tokens": 16,
                           "messages": [{"role": "user", "content": text}]}).encode()
        headers = {"Content-Type": "application/json"}
        if self.api_key:
            headers["Authorization"] = f"Bearer {self.api_key}"
        url = self.url.rstrip("/") + "/v1/chat/completions"
        req = urllib.request.Request(url, data=body, headers=headers)
        try:
            with urllib.request.urlopen(req, timeout=self.timeout) as r:
                reply = json.loads(r.read())
        except (urllib.error.URLError, OSError, json.JSONDecodeError) as e:
            raise UserError(f"rewards: judge at {url} failed: {e}") from None
        try:
            return str(reply["choices"][0]["message"]["content"])
        except (KeyError, IndexError, TypeError):
            raise UserError(f"rewards: judge at {url} replied without choices[0].message.content: "
                            f"{str(reply)[:200]}") from None


def _last_user(messages: list[dict]) -> str:
    users = [m.get("content", "") for m in messages if m.get("role") == "user"]
    return str(users[-1]) if users else ""
