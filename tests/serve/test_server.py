"""The official openai client against `lmforge serve` on 127.0.0.1."""

from __future__ import annotations

import asyncio
import logging
import time

import httpx
import openai
import pytest

from lmforge.model.generate import SamplingParams, generate
from lmforge.tokenizer.chat_template import render
from tests.export.conftest import model_dir  # noqa: F401  (fixture)
from tests.serve.conftest import API_KEY

MESSAGES = [{"role": "system", "content": "You are helpful."}, {"role": "user", "content": "你好! Say hi."}]


def client(live, **kw) -> openai.OpenAI:
    return openai.OpenAI(base_url=live.url + "/v1", api_key=API_KEY, max_retries=0, **kw)


def greedy_text(live, ids: list[int], n: int) -> tuple[str, list[int]]:
    out = generate(live.model, [ids], SamplingParams(max_new_tokens=n, stop_token_ids=live.engine_stops))[0]
    # a trailing incomplete UTF-8 character is never sent (as `lmforge generate` streams)
    return live.tokenizer.decode([t for t in out if t not in live.engine_stops]).rstrip("\ufffd"), out


@pytest.fixture(scope="module")
def live(live_server):
    from lmforge.model.loader import stop_token_ids

    live_server.engine_stops = stop_token_ids(live_server.tokenizer, live_server.model.config)
    return live_server


def test_models_and_health(live):
    assert [m.id for m in client(live).models.list().data] == ["tiny"]
    assert httpx.get(live.url + "/health").json()["status"] == "ok"


def test_chat_temperature0_equals_generate_plain_and_streamed(live):
    ids, _ = render(live.tokenizer, MESSAGES, add_generation_prompt=True)
    want, raw = greedy_text(live, ids, 24)
    c = client(live)
    resp = c.chat.completions.create(model="tiny", messages=MESSAGES, max_tokens=24, temperature=0, seed=3)
    assert resp.choices[0].message.content == want
    assert resp.choices[0].message.role == "assistant"
    assert resp.usage.completion_tokens == len(raw) and resp.usage.prompt_tokens == len(ids)
    assert resp.choices[0].finish_reason == ("stop" if raw[-1] in live.engine_stops else "length")
    chunks = list(c.chat.completions.create(model="tiny", messages=MESSAGES, max_tokens=24, temperature=0,
                                            seed=3, stream=True, stream_options={"include_usage": True}))
    assert chunks[-1].usage.completion_tokens == len(raw) and not chunks[-1].choices
    chunks = chunks[:-1]
    assert "".join(ch.choices[0].delta.content or "" for ch in chunks) == want
    assert sum(bool(ch.choices[0].delta.content) for ch in chunks) > 1  # really streamed
    assert chunks[-1].choices[0].finish_reason in ("stop", "length")


def test_completion_equals_lmforge_generate(live):
    prompt = "Hello, how are"
    want, _ = greedy_text(live, live.tokenizer.encode(prompt, add_bos=True), 16)
    resp = client(live).completions.create(model="tiny", prompt=prompt, max_tokens=16, temperature=0)
    assert resp.choices[0].text == want
    stream = client(live).completions.create(model="tiny", prompt=prompt, max_tokens=16, temperature=0, stream=True)
    assert "".join(ch.choices[0].text for ch in stream) == want


def test_seeded_sampling_repeats_and_stop_string_cuts(live):
    c = client(live)
    kw = dict(model="tiny", messages=MESSAGES, max_tokens=30, temperature=1.0, top_p=0.9)
    a = c.chat.completions.create(seed=11, **kw).choices[0].message.content
    assert a == c.chat.completions.create(seed=11, **kw).choices[0].message.content
    text = c.chat.completions.create(model="tiny", messages=MESSAGES, max_tokens=30, temperature=0)
    text = text.choices[0].message.content
    if len(text) < 6:
        pytest.skip("greedy answer too short to pick a stop string")
    stop = text[3:5]
    cut = c.chat.completions.create(model="tiny", messages=MESSAGES, max_tokens=30, temperature=0, stop=[stop])
    assert cut.choices[0].message.content == text[:text.find(stop)]
    assert cut.choices[0].finish_reason == "stop"


def test_32_concurrent_streams_are_batched(live):
    async def one(c: openai.AsyncOpenAI, i: int) -> tuple[str, str]:
        stream = await c.chat.completions.create(
            model="tiny", messages=[{"role": "user", "content": f"question {i}"}], max_tokens=16 + i % 8,
            temperature=0.8, seed=i, stream=True)
        text, reason = "", None
        async for ch in stream:
            text += ch.choices[0].delta.content or ""
            reason = ch.choices[0].finish_reason or reason
        return text, reason

    async def main():
        async with openai.AsyncOpenAI(base_url=live.url + "/v1", api_key=API_KEY, max_retries=0,
                                      http_client=openai.DefaultAsyncHttpxClient(
                                          limits=httpx.Limits(max_connections=64))) as c:
            return await asyncio.gather(*(one(c, i) for i in range(32)))

    results = asyncio.run(main())
    assert len(results) == 32 and all(r in ("stop", "length") for _, r in results)
    assert live.engine.peak_batch > 1


def _post(live, body, key=API_KEY, **kw) -> httpx.Response:
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    headers["Content-Type"] = "application/json"
    return httpx.post(live.url + "/v1/chat/completions", headers=headers, **kw,
                      **({} if "content" in kw else {"json": body}))


@pytest.mark.parametrize("case,status,words", [
    ("malformed", 400, "not valid JSON"),
    ("negative", 400, "max_tokens"),
    ("over_cap", 400, "cap is 64"),
    ("unknown_model", 404, "does not exist"),
    ("long_prompt", 400, "at most 100"),
    ("no_messages", 400, "messages"),
    ("bad_role", 400, "role"),
    ("no_key", 401, "missing API key"),
    ("wrong_key", 401, "invalid API key"),
])
def test_errors_are_4xx_and_server_keeps_serving(live, case, status, words):
    good = {"model": "tiny", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 4}
    body = {"negative": {**good, "max_tokens": -5}, "over_cap": {**good, "max_tokens": 1000},
            "unknown_model": {**good, "model": "gpt-9"}, "no_messages": {**good, "messages": []},
            "long_prompt": {**good, "messages": [{"role": "user", "content": "你好 hello " * 200}]},
            "bad_role": {**good, "messages": [{"role": "wizard", "content": "x"}]}}.get(case, good)
    key = {"no_key": None, "wrong_key": "nope"}.get(case, API_KEY)
    if case == "malformed":
        r = _post(live, None, content=b'{"model": "tiny", "messages": [', )
    else:
        r = _post(live, body, key=key)
    assert r.status_code == status, r.text
    assert words in r.json()["error"]["message"]
    assert _post(live, good).status_code == 200


def test_openai_client_raises_on_4xx(live):
    with pytest.raises(openai.NotFoundError):
        client(live).chat.completions.create(model="nope", messages=MESSAGES)
    with pytest.raises(openai.AuthenticationError):
        openai.OpenAI(base_url=live.url + "/v1", api_key="bad", max_retries=0).models.list()


def _request_lines(caplog, since: int, path: str, want: int) -> list[str]:
    """The server's log lines for `path` after record `since` (a stream's line comes once its last
    chunk is sent, so wait for it briefly)."""
    for _ in range(100):
        lines = [r.getMessage() for r in caplog.records[since:]
                 if r.name == "lmforge.serve" and r.getMessage().split()[1] == path]
        if len(lines) >= want:
            return lines
        time.sleep(0.05)
    return lines


def _fields(line: str) -> dict[str, str]:
    method, path, status, *rest = line.split()
    return {"method": method, "path": path, "status": status, **dict(kv.split("=") for kv in rest)}


def test_each_request_is_logged_once_with_status_tokens_and_time(live, caplog):
    caplog.set_level(logging.INFO, logger="lmforge.serve")
    since = len(caplog.records)
    c = client(live)
    whole = c.chat.completions.create(model="tiny", messages=MESSAGES, max_tokens=12, temperature=0)
    chunks = list(c.chat.completions.create(model="tiny", messages=MESSAGES, max_tokens=7, temperature=0,
                                            stream=True, stream_options={"include_usage": True}))
    assert _post(live, {"model": "gpt-9", "messages": MESSAGES}).status_code == 404
    lines = [_fields(x) for x in _request_lines(caplog, since, "/v1/chat/completions", 3)]
    assert len(lines) == 3, lines
    assert [(x["method"], x["status"]) for x in lines] == [("POST", "200"), ("POST", "200"), ("POST", "404")]
    assert int(lines[0]["completion_tokens"]) == whole.usage.completion_tokens
    assert int(lines[0]["prompt_tokens"]) == whole.usage.prompt_tokens
    assert int(lines[1]["completion_tokens"]) == chunks[-1].usage.completion_tokens
    assert lines[2]["completion_tokens"] == "0" and all(float(x["ms"]) >= 0 for x in lines)


def test_a_client_reset_mid_stream_frees_the_row_and_is_logged(live, caplog):
    caplog.set_level(logging.INFO, logger="lmforge.serve")
    since = len(caplog.records)
    body = {"model": "tiny", "messages": MESSAGES, "max_tokens": 64, "temperature": 0, "stream": True}
    with httpx.stream("POST", live.url + "/v1/chat/completions", json=body,
                      headers={"Authorization": f"Bearer {API_KEY}"}) as r:
        assert r.status_code == 200
        next(r.iter_lines())  # the first event, then the client hangs up
    lines = _request_lines(caplog, since, "/v1/chat/completions", 1)
    assert len(lines) == 1 and _fields(lines[0])["status"] == "200", lines
    assert int(_fields(lines[0])["completion_tokens"]) <= 64
    for _ in range(100):
        if httpx.get(live.url + "/health").json()["active"] == 0:
            break
        time.sleep(0.05)
    assert httpx.get(live.url + "/health").json()["active"] == 0  # the engine dropped the row
    assert _post(live, {"model": "tiny", "messages": MESSAGES, "max_tokens": 4}).status_code == 200


def test_the_model_is_named_after_its_folder_or_the_run_that_made_it(tmp_path, model_dir):  # noqa: F811
    from lmforge.serve.launch import LaunchConfig
    from lmforge.serve.server import model_name_for

    assert model_name_for(tmp_path / "runs" / "demo" / "sft" / "model") == "sft"
    assert model_name_for(tmp_path / "qwen2.5-0.5b-zh") == "qwen2.5-0.5b-zh"
    assert model_name_for(tmp_path / "qwen2.5-0.5b-zh" / ".") == "qwen2.5-0.5b-zh"
    assert model_dir.name == "model"
    assert LaunchConfig(model=str(model_dir)).app_config().model_name == model_dir.parent.name
    assert LaunchConfig(model=str(model_dir), model_name="zh-chat").app_config().model_name == "zh-chat"
