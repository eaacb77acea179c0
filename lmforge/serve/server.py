"""OpenAI-compatible HTTP server (FastAPI): /v1/models, /v1/completions, /v1/chat/completions
(streamed as SSE or not), /health, and the chat page at /. Every request goes through one
`Engine`, which batches concurrent requests step by step."""

from __future__ import annotations

import asyncio
import json
import logging
import secrets
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any, AsyncIterator, Literal

from fastapi import Depends, FastAPI, Request as HTTPRequest
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse, Response, StreamingResponse
from pydantic import BaseModel, ConfigDict, Field
from starlette.exceptions import HTTPException

from lmforge.model.generate import SamplingParams
from lmforge.model.loader import stop_token_ids
from lmforge.serve.engine import Engine, Request
from lmforge.serve.text import StreamDecoder
from lmforge.tokenizer.chat_template import ChatFormatError, render

WEB_PAGE = Path(__file__).parent / "web" / "index.html"
log = logging.getLogger("lmforge.serve")


class APIError(HTTPException):
    def __init__(self, status: int, message: str, param: str | None = None, code: str | None = None):
        super().__init__(status, message)
        self.param, self.code = param, code


class _Sampling(BaseModel):
    model_config = ConfigDict(extra="ignore")
    model: str
    max_tokens: int | None = Field(None, ge=1)
    temperature: float = Field(1.0, ge=0, le=2)
    top_p: float = Field(1.0, gt=0, le=1)
    stop: str | list[str] | None = None
    seed: int | None = Field(None, ge=0, lt=2**63)
    stream: bool = False
    stream_options: dict[str, Any] | None = None  # {"include_usage": true}: a last chunk with usage
    n: int = Field(1, ge=1, le=1, description="only n=1 is supported")


class ChatMessage(BaseModel):
    role: Literal["system", "user", "assistant"]
    content: str


class ChatRequest(_Sampling):
    messages: list[ChatMessage] = Field(min_length=1)


class CompletionRequest(_Sampling):
    prompt: str | list[str]


@dataclass
class ServeConfig:
    model_name: str
    api_key: str | None = None
    max_tokens_cap: int = 512  # the most tokens one request may ask for
    max_prompt_tokens: int = 2048


def model_name_for(folder: str | Path) -> str:
    """The model id clients send: the folder's name; for a run's `model` output folder
    (runs/demo/sft/model) the name of the run folder that holds it (`sft`)."""
    path = Path(folder).resolve()
    return path.parent.name if path.name == "model" and path.parent.name else path.name


@dataclass
class _Served:
    """What every route reads: the engine, the tokenizer, the limits (app.state.served)."""
    engine: Engine
    tokenizer: Any
    cfg: ServeConfig
    context: int  # the model's context length
    stops: list[int]  # stop token ids


def create_app(engine: Engine, tokenizer, cfg: ServeConfig) -> FastAPI:
    """The FastAPI app over `engine`; each request is logged as one line (see RequestLog)."""
    app = FastAPI(title="lmforge", version="1")
    app.state.engine = engine
    app.state.served = _Served(engine, tokenizer, cfg, engine.model.config.max_position_embeddings,
                               stop_token_ids(tokenizer, engine.model.config))
    app.add_exception_handler(HTTPException, _http_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_middleware(RequestLog)
    keyed = [Depends(_check_key)]
    app.add_api_route("/health", health, methods=["GET"])
    app.add_api_route("/", page, methods=["GET"])
    app.add_api_route("/v1/models", models, methods=["GET"], dependencies=keyed)
    app.add_api_route("/v1/chat/completions", chat, methods=["POST"], dependencies=keyed)
    app.add_api_route("/v1/completions", completions, methods=["POST"], dependencies=keyed)
    return app


# ---- one line per request ------------------------------------------------------------------

@dataclass
class _Tally:
    """Tokens of the request being served (the routes fill it in, RequestLog prints it)."""
    prompt_tokens: int = 0
    completion_tokens: int = 0


_TALLY = "lmforge.tally"  # its key in the ASGI scope


class RequestLog:
    """ASGI middleware: after each HTTP request (a stream: after its last chunk, or when the client
    went away) one INFO line on the `lmforge.serve` logger:
    `POST /v1/chat/completions 200 prompt_tokens=12 completion_tokens=30 ms=85`."""

    def __init__(self, app) -> None:
        self.app = app

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        start, status, tally = time.perf_counter(), [500], _Tally()
        scope[_TALLY] = tally

        async def send_status(message) -> None:
            if message["type"] == "http.response.start":
                status[0] = message["status"]
            await send(message)
        try:
            await self.app(scope, receive, send_status)
        finally:
            log.info("%s %s %d prompt_tokens=%d completion_tokens=%d ms=%.0f", scope["method"],
                     scope["path"], status[0], tally.prompt_tokens, tally.completion_tokens,
                     (time.perf_counter() - start) * 1000)


def log_requests(stream=None) -> None:
    """Print the request lines (to stderr by default); `lmforge serve` calls this."""
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logging.Formatter("%(asctime)s %(message)s"))
    log.addHandler(handler)
    log.setLevel(logging.INFO)


def _tally(request: HTTPRequest) -> _Tally:
    return request.scope.get(_TALLY) or _Tally()


# ---- errors and checks ---------------------------------------------------------------------

def _error_body(status: int, message: str, param: str | None = None, code: str | None = None) -> dict:
    kind = {401: "authentication_error", 404: "not_found_error"}.get(status, "invalid_request_error")
    return {"error": {"message": message, "type": kind, "param": param, "code": code}}


async def _http_error(_req: HTTPRequest, exc: HTTPException) -> JSONResponse:
    body = _error_body(exc.status_code, str(exc.detail), getattr(exc, "param", None),
                       getattr(exc, "code", None))
    return JSONResponse(body, status_code=exc.status_code)


async def _validation_error(_req: HTTPRequest, exc: RequestValidationError) -> JSONResponse:
    """400 naming the field (`messages.0.role: ...`) or saying the body is not JSON."""
    err = exc.errors()[0]
    loc = [str(x) for x in err.get("loc", ()) if x != "body"]
    if err.get("type") == "json_invalid":
        msg = f"request body is not valid JSON: {err.get('ctx', {}).get('error', err['msg'])}"
    else:
        msg = f"{'.'.join(loc) or 'body'}: {err['msg']}"
    return JSONResponse(_error_body(400, msg, ".".join(loc) or None), status_code=400)


async def _check_key(request: HTTPRequest) -> None:
    key = request.app.state.served.cfg.api_key
    if key is None:
        return
    auth = request.headers.get("authorization", "")
    if not auth.lower().startswith("bearer "):
        raise APIError(401, "missing API key: send 'Authorization: Bearer KEY'")
    if not secrets.compare_digest(auth[7:].strip(), key):
        raise APIError(401, "invalid API key")


def _check_model(s: _Served, name: str) -> None:
    if name != s.cfg.model_name:
        raise APIError(404, f"model {name!r} does not exist; this server serves {s.cfg.model_name!r}",
                       "model", "model_not_found")


def _params_for(s: _Served, body: _Sampling, prompt_len: int) -> SamplingParams:
    """Sampling parameters for a prompt of `prompt_len` tokens, or a 400 naming the field."""
    cfg, context = s.cfg, s.context
    if prompt_len == 0:
        raise APIError(400, "the prompt is empty", "prompt")
    if prompt_len > cfg.max_prompt_tokens:
        raise APIError(400, f"the prompt has {prompt_len} tokens; this server accepts at most "
                            f"{cfg.max_prompt_tokens}", "messages", "context_length_exceeded")
    room = context - prompt_len
    if body.max_tokens is not None and body.max_tokens > cfg.max_tokens_cap:
        raise APIError(400, f"max_tokens is {body.max_tokens}; this server's cap is "
                            f"{cfg.max_tokens_cap}", "max_tokens")
    if body.max_tokens is not None and body.max_tokens > room:
        raise APIError(400, f"prompt ({prompt_len}) + max_tokens ({body.max_tokens}) exceeds the "
                            f"model's context of {context} tokens", "max_tokens", "context_length_exceeded")
    if room <= 0:
        raise APIError(400, f"the prompt fills the model's context of {context} tokens", "messages",
                       "context_length_exceeded")
    return SamplingParams(max_new_tokens=body.max_tokens or min(cfg.max_tokens_cap, room),
                          temperature=body.temperature, top_p=body.top_p,
                          stop_token_ids=s.stops, seed=body.seed)


# ---- routes --------------------------------------------------------------------------------

async def health(request: HTTPRequest) -> dict:
    s: _Served = request.app.state.served
    return {"status": "ok", "model": s.cfg.model_name, "active": len(s.engine.active),
            "waiting": s.engine.incoming.qsize()}


async def page() -> FileResponse:
    return FileResponse(WEB_PAGE, media_type="text/html")


async def models(request: HTTPRequest) -> dict:
    s: _Served = request.app.state.served
    return {"object": "list", "data": [{"id": s.cfg.model_name, "object": "model", "created": 0,
                                        "owned_by": "lmforge", "context_length": s.context}]}


async def chat(body: ChatRequest, request: HTTPRequest) -> Response:
    s: _Served = request.app.state.served
    _check_model(s, body.model)
    try:
        ids, _ = render(s.tokenizer, [m.model_dump() for m in body.messages], add_generation_prompt=True)
    except ChatFormatError as e:
        raise APIError(400, str(e), "messages") from None
    return await _respond(s, request, body, ids, "chat")


async def completions(body: CompletionRequest, request: HTTPRequest) -> Response:
    s: _Served = request.app.state.served
    _check_model(s, body.model)
    prompts = [body.prompt] if isinstance(body.prompt, str) else body.prompt
    if len(prompts) != 1:
        raise APIError(400, f"prompt: one string expected, got a list of {len(prompts)}", "prompt")
    return await _respond(s, request, body, s.tokenizer.encode(prompts[0], add_bos=True), "completion")


# ---- answering -----------------------------------------------------------------------------

@dataclass
class _Reply:
    """The OpenAI envelope of one answer: ids, object names, choices, usage."""
    kind: str  # "chat" or "completion"
    model: str
    prompt_tokens: int
    rid: str = ""
    created: int = 0

    def __post_init__(self) -> None:
        self.rid = f"{'chatcmpl' if self.kind == 'chat' else 'cmpl'}-{uuid.uuid4().hex[:24]}"
        self.created = int(time.time())

    def head(self, chunk: bool) -> dict:
        obj = "chat.completion" if self.kind == "chat" else "text_completion"
        obj += ".chunk" if chunk and self.kind == "chat" else ""
        return {"id": self.rid, "object": obj, "created": self.created, "model": self.model}

    def choice(self, text: str, reason: str | None, chunk: bool) -> dict:
        if self.kind != "chat":
            return {"index": 0, "text": text, "finish_reason": reason, "logprobs": None}
        key = "delta" if chunk else "message"
        msg = {"content": text} if chunk else {"role": "assistant", "content": text}
        return {"index": 0, key: msg if text or not chunk else {}, "finish_reason": reason}

    def usage(self, n: int) -> dict:
        return {"prompt_tokens": self.prompt_tokens, "completion_tokens": n,
                "total_tokens": self.prompt_tokens + n}


async def _respond(s: _Served, request: HTTPRequest, body: _Sampling, prompt: list[int],
                   kind: str) -> Response:
    """The answer as server-sent events (`stream`) or as one JSON object."""
    params = _params_for(s, body, len(prompt))
    reply = _Reply(kind, s.cfg.model_name, len(prompt))
    tally = _tally(request)
    tally.prompt_tokens = len(prompt)
    stop = [body.stop] if isinstance(body.stop, str) else [x for x in (body.stop or []) if x]
    deltas = _generate(s, prompt, params, stop, tally)
    if body.stream:
        usage = bool((body.stream_options or {}).get("include_usage"))
        return StreamingResponse(_events(reply, deltas, usage), media_type="text/event-stream",
                                 headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})
    text, reason, n = "", None, 0
    try:
        async for delta, reason, n in deltas:
            text += delta
    except RuntimeError as e:
        raise APIError(500, str(e)) from None
    return JSONResponse({**reply.head(chunk=False), "choices": [reply.choice(text, reason, False)],
                         "usage": reply.usage(n)})


async def _events(reply: _Reply, deltas: AsyncIterator[tuple[str, str | None, int]],
                  include_usage: bool) -> AsyncIterator[str]:
    head = reply.head(chunk=True)
    if reply.kind == "chat":
        first = {"index": 0, "delta": {"role": "assistant", "content": ""}, "finish_reason": None}
        yield f"data: {json.dumps({**head, 'choices': [first]})}\n\n"
    n = 0
    try:
        async for delta, reason, n in deltas:
            chunk = {**head, "choices": [reply.choice(delta, reason, True)]}
            yield f"data: {json.dumps(chunk, ensure_ascii=False)}\n\n"
    except RuntimeError as e:
        yield f"data: {json.dumps(_error_body(500, str(e)))}\n\n"
    if include_usage:
        yield f"data: {json.dumps({**head, 'choices': [], 'usage': reply.usage(n)})}\n\n"
    yield "data: [DONE]\n\n"


async def _generate(s: _Served, prompt: list[int], params: SamplingParams, stop: list[str],
                    tally: _Tally) -> AsyncIterator[tuple[str, str | None, int]]:
    """(text delta, finish reason or None, tokens so far) as the engine produces tokens."""
    loop = asyncio.get_running_loop()
    q: asyncio.Queue = asyncio.Queue()
    req = s.engine.submit(Request(prompt, params, lambda t, r: loop.call_soon_threadsafe(
        q.put_nowait, (t, r))))
    decoder = StreamDecoder(s.tokenizer, stop, set(s.stops))
    try:
        while True:
            tok, reason = await q.get()
            if reason is not None and reason.startswith("error"):
                raise RuntimeError(reason)
            delta, stopped = decoder.feed(tok) if tok is not None else (decoder.flush(), False)
            tally.completion_tokens = decoder.count
            if stopped:
                req.cancel()
                reason = "stop"
            if delta or reason:
                yield delta, reason, decoder.count
            if reason:
                return
    finally:
        req.cancel()  # client gone or done: the engine drops the row at its next step
