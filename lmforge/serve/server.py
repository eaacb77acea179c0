"""OpenAI-compatible HTTP server (FastAPI): /v1/models, /v1/completions, /v1/chat/completions
(streamed as SSE or not), /health, and the chat page at /. Every request goes through one
`Engine`, which batches concurrent requests step by step."""

from __future__ import annotations

import asyncio
import json
import secrets
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any, AsyncIterator, Literal

from fastapi import Depends, FastAPI, Request as HTTPRequest
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse, StreamingResponse
from pydantic import BaseModel, ConfigDict, Field
from starlette.exceptions import HTTPException

from lmforge.model.generate import SamplingParams
from lmforge.serve.engine import Engine, Request
from lmforge.serve.text import StreamDecoder, stop_token_ids

WEB_PAGE = Path(__file__).parent / "web" / "index.html"


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
    seed: int | None = None
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


def _error_body(status: int, message: str, param: str | None = None, code: str | None = None) -> dict:
    kind = {401: "authentication_error", 404: "not_found_error"}.get(status, "invalid_request_error")
    return {"error": {"message": message, "type": kind, "param": param, "code": code}}


def create_app(engine: Engine, tokenizer, cfg: ServeConfig) -> FastAPI:
    app = FastAPI(title="lmforge", version="1")
    app.state.engine = engine
    context = engine.model.config.max_position_embeddings
    stops = stop_token_ids(tokenizer, engine.model.config)

    @app.exception_handler(HTTPException)
    async def _http_error(_req, exc: HTTPException):
        body = _error_body(exc.status_code, str(exc.detail), getattr(exc, "param", None),
                           getattr(exc, "code", None))
        return JSONResponse(body, status_code=exc.status_code)

    @app.exception_handler(RequestValidationError)
    async def _validation_error(_req, exc: RequestValidationError):
        err = exc.errors()[0]
        loc = [str(x) for x in err.get("loc", ()) if x != "body"]
        if err.get("type") == "json_invalid":
            msg = f"request body is not valid JSON: {err.get('ctx', {}).get('error', err['msg'])}"
        else:
            msg = f"{'.'.join(loc) or 'body'}: {err['msg']}"
        return JSONResponse(_error_body(400, msg, ".".join(loc) or None), status_code=400)

    async def check_key(request: HTTPRequest) -> None:
        if cfg.api_key is None:
            return
        auth = request.headers.get("authorization", "")
        if not auth.lower().startswith("bearer "):
            raise APIError(401, "missing API key: send 'Authorization: Bearer KEY'")
        if not secrets.compare_digest(auth[7:].strip(), cfg.api_key):
            raise APIError(401, "invalid API key")

    def check_model(name: str) -> None:
        if name != cfg.model_name:
            raise APIError(404, f"model {name!r} does not exist; this server serves {cfg.model_name!r}",
                           "model", "model_not_found")

    def params_for(body: _Sampling, prompt_len: int) -> SamplingParams:
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
                              stop_token_ids=stops, seed=body.seed)

    async def run(prompt: list[int], params: SamplingParams, stop: list[str]
                  ) -> AsyncIterator[tuple[str, str | None, int]]:
        """(text delta, finish reason or None, tokens so far) as the engine produces tokens."""
        loop = asyncio.get_running_loop()
        q: asyncio.Queue = asyncio.Queue()
        req = engine.submit(Request(prompt, params, lambda t, r: loop.call_soon_threadsafe(
            q.put_nowait, (t, r))))
        decoder = StreamDecoder(tokenizer, stop, set(stops))
        try:
            while True:
                tok, reason = await q.get()
                if reason is not None and reason.startswith("error"):
                    raise RuntimeError(reason)
                delta, stopped = decoder.feed(tok) if tok is not None else (decoder.flush(), False)
                if stopped:
                    req.cancel()
                    reason = "stop"
                if delta or reason:
                    yield delta, reason, decoder.count
                if reason:
                    return
        finally:
            req.cancel()  # client gone or done: the engine drops the row at its next step

    def stop_list(body: _Sampling) -> list[str]:
        return [body.stop] if isinstance(body.stop, str) else [s for s in (body.stop or []) if s]

    def respond(body: _Sampling, prompt: list[int], kind: str) -> Any:
        params = params_for(body, len(prompt))
        rid = f"{'chatcmpl' if kind == 'chat' else 'cmpl'}-{uuid.uuid4().hex[:24]}"
        created = int(time.time())
        obj = "chat.completion" if kind == "chat" else "text_completion"

        def choice(text: str, reason: str | None, chunk: bool) -> dict:
            if kind != "chat":
                return {"index": 0, "text": text, "finish_reason": reason, "logprobs": None}
            key = "delta" if chunk else "message"
            msg = {"content": text} if chunk else {"role": "assistant", "content": text}
            return {"index": 0, key: msg if text or not chunk else {}, "finish_reason": reason}

        def usage(n: int) -> dict:
            return {"prompt_tokens": len(prompt), "completion_tokens": n, "total_tokens": len(prompt) + n}

        if body.stream:
            async def sse() -> AsyncIterator[str]:
                head = {"id": rid, "object": obj + (".chunk" if kind == "chat" else ""),
                        "created": created, "model": cfg.model_name}
                if kind == "chat":
                    first = {"index": 0, "delta": {"role": "assistant", "content": ""}, "finish_reason": None}
                    yield f"data: {json.dumps({**head, 'choices': [first]})}\n\n"
                n = 0
                try:
                    async for delta, reason, n in run(prompt, params, stop_list(body)):
                        yield f"data: {json.dumps({**head, 'choices': [choice(delta, reason, True)]}, ensure_ascii=False)}\n\n"
                except RuntimeError as e:
                    yield f"data: {json.dumps(_error_body(500, str(e)))}\n\n"
                if (body.stream_options or {}).get("include_usage"):
                    yield f"data: {json.dumps({**head, 'choices': [], 'usage': usage(n)})}\n\n"
                yield "data: [DONE]\n\n"
            return StreamingResponse(sse(), media_type="text/event-stream",
                                     headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})

        async def whole() -> JSONResponse:
            text, reason, n = "", None, 0
            try:
                async for delta, reason, n in run(prompt, params, stop_list(body)):
                    text += delta
            except RuntimeError as e:
                raise APIError(500, str(e)) from None
            return JSONResponse({"id": rid, "object": obj, "created": created, "model": cfg.model_name,
                                 "choices": [choice(text, reason, False)], "usage": usage(n)})
        return whole()

    @app.get("/health")
    async def health() -> dict:
        return {"status": "ok", "model": cfg.model_name, "active": len(engine.active),
                "waiting": engine.incoming.qsize()}

    @app.get("/")
    async def page() -> FileResponse:
        return FileResponse(WEB_PAGE, media_type="text/html")

    @app.get("/v1/models", dependencies=[Depends(check_key)])
    async def models() -> dict:
        return {"object": "list", "data": [{"id": cfg.model_name, "object": "model", "created": 0,
                                            "owned_by": "lmforge", "context_length": context}]}

    @app.post("/v1/chat/completions", dependencies=[Depends(check_key)])
    async def chat(body: ChatRequest):
        from lmforge.tokenizer.chat_template import ChatFormatError, render

        check_model(body.model)
        try:
            ids, _ = render(tokenizer, [m.model_dump() for m in body.messages], add_generation_prompt=True)
        except ChatFormatError as e:
            raise APIError(400, str(e), "messages") from None
        out = respond(body, ids, "chat")
        return await out if asyncio.iscoroutine(out) else out

    @app.post("/v1/completions", dependencies=[Depends(check_key)])
    async def completions(body: CompletionRequest):
        check_model(body.model)
        prompts = [body.prompt] if isinstance(body.prompt, str) else body.prompt
        if len(prompts) != 1:
            raise APIError(400, f"prompt: one string expected, got a list of {len(prompts)}", "prompt")
        out = respond(body, tokenizer.encode(prompts[0], add_bos=True), "completion")
        return await out if asyncio.iscoroutine(out) else out

    return app
