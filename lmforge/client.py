"""A small client for any OpenAI-compatible endpoint (lmforge serve, vLLM, llama.cpp, ...)."""

from __future__ import annotations

import threading
import time
from typing import Any

import httpx

from lmforge.errors import UserError


class EndpointError(UserError):
    pass


class ChatClient:
    """`chat(messages)` -> the assistant's text; at most `rps` requests per second, retried."""

    def __init__(self, base_url: str, model: str | None = None, api_key: str | None = None,
                 rps: float = 0.0, timeout: float = 120.0, retries: int = 3):
        self.base_url = base_url.rstrip("/")
        if not self.base_url.endswith("/v1"):
            self.base_url += "/v1"
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self.http = httpx.Client(timeout=timeout, headers=headers)
        self.model, self.rps, self.retries = model, rps, retries
        self._last = 0.0
        self._lock = threading.Lock()

    def _wait_turn(self) -> None:
        if self.rps <= 0:
            return
        with self._lock:
            delay = self._last + 1.0 / self.rps - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            self._last = time.monotonic()

    def _model(self) -> str:
        if self.model is None:
            data = self._request("GET", "/models")
            self.model = data["data"][0]["id"]
        return self.model

    def _request(self, method: str, path: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
        err: Exception | None = None
        for attempt in range(self.retries):
            self._wait_turn()
            try:
                r = self.http.request(method, self.base_url + path, json=body)
                if r.status_code < 500 and r.status_code != 429:
                    if r.status_code >= 400:
                        raise EndpointError(f"{self.base_url}{path}: HTTP {r.status_code}: {r.text[:300]}")
                    return r.json()
                err = EndpointError(f"{self.base_url}{path}: HTTP {r.status_code}")
            except httpx.HTTPError as e:
                err = EndpointError(f"{self.base_url}{path}: {e}")
            time.sleep(min(8.0, 0.5 * 2**attempt))
        raise err  # type: ignore[misc]

    def chat(self, messages: list[dict[str, str]], **params: Any) -> str:
        body = {"model": self._model(), "messages": messages, **params}
        data = self._request("POST", "/chat/completions", body)
        return data["choices"][0]["message"]["content"] or ""
