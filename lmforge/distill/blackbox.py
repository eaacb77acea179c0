"""Black-box distillation's data: the teacher's answers to the prompts, asked through any
OpenAI-compatible endpoint (`lmforge serve`, vLLM, llama.cpp), written as SFT conversations."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator
from tqdm import tqdm

from lmforge.client import ChatClient
from lmforge.data.pipeline import write_jsonl_atomic
from lmforge.errors import UserError
from lmforge.text import iter_jsonl


class TeacherEndpoint(BaseModel):
    """Where the black-box teacher answers: an OpenAI-compatible chat endpoint."""

    model_config = ConfigDict(extra="forbid")
    url: str = Field(description="endpoint URL, e.g. http://127.0.0.1:8000/v1 (lmforge serve)")
    model: str | None = Field(None, description="teacher model name (default: the endpoint's first)")
    api_key: str | None = Field(None, description="bearer token for the endpoint")
    max_tokens: int = Field(256, gt=0, description="teacher tokens per answer")
    temperature: float = Field(0.0, ge=0, description="teacher sampling temperature (0: greedy)")
    rps: float = Field(0.0, ge=0, description="at most this many requests per second (0: no limit)")
    workers: int = Field(4, gt=0, description="requests in flight at once")

    @field_validator("url")
    @classmethod
    def _http(cls, url: str) -> str:
        if not url.startswith(("http://", "https://")):
            raise UserError(f"endpoint.url {url!r}: expected an http:// or https:// URL")
        return url


def _as_messages(p: Any, where: str) -> list[dict[str, Any]]:
    if isinstance(p, str):
        return [{"role": "user", "content": p}]
    if isinstance(p, list) and p and all(isinstance(m, dict) and isinstance(m.get("content"), str) for m in p):
        return [{"role": m.get("role"), "content": m["content"]} for m in p]
    raise UserError(f"{where}: the prompt must be text or a list of {{role, content}} messages, got {p!r:.80}")


def prompt_messages(rec: dict[str, Any], where: str) -> list[dict[str, Any]]:
    """The turns the teacher answers: `prompt` (text or messages), `messages`/`conversations` up to
    the last user turn (an existing answer is replaced), or alpaca `instruction` (+ `input`)."""
    if "prompt" in rec:
        return _as_messages(rec["prompt"], where)
    if "instruction" in rec:
        text = rec["instruction"] + (("\n\n" + rec["input"]) if rec.get("input") else "")
        return _as_messages(text, where)
    for key in ("messages", "conversations"):
        if key in rec:
            turns = [{"role": m.get("role", m.get("from")), "content": m.get("content", m.get("value"))}
                     for m in rec[key]] if isinstance(rec[key], list) and all(
                         isinstance(m, dict) for m in rec[key]) else rec[key]
            msgs = _as_messages(turns, where)
            users = [i for i, m in enumerate(msgs) if m["role"] in ("user", "human")]
            if not users:
                raise UserError(f"{where}: '{key}' has no user turn for the teacher to answer")
            return msgs[:users[-1] + 1]
    raise UserError(f"{where}: a prompt record needs 'prompt', 'messages', 'conversations' or 'instruction', "
                    f"has {sorted(rec)}")


def read_prompt_records(files: list[str]) -> list[list[dict[str, Any]]]:
    prompts = [prompt_messages(rec, where) for f in files for where, rec in iter_jsonl(f, strict=True)]
    if not prompts:
        raise UserError(f"{', '.join(files)}: no prompts for the teacher")
    return prompts


def collect_answers(endpoint: TeacherEndpoint, files: list[str], out: Path) -> tuple[int, int]:
    """Ask the teacher every prompt; write {"messages": prompt + answer} records to `out`
    (atomically). Returns (conversations written, prompts whose answer came back empty)."""
    prompts = read_prompt_records(files)
    client = ChatClient(endpoint.url, model=endpoint.model, api_key=endpoint.api_key, rps=endpoint.rps)

    def ask(msgs: list[dict[str, Any]]) -> str:
        return client.chat(msgs, max_tokens=endpoint.max_tokens, temperature=endpoint.temperature)

    with ThreadPoolExecutor(endpoint.workers) as pool:
        answers = list(tqdm(pool.map(ask, prompts), total=len(prompts), desc="teacher", unit="prompt",
                            mininterval=2.0))
    rows = [{"messages": [*p, {"role": "assistant", "content": a}]} for p, a in zip(prompts, answers) if a.strip()]
    if not rows:
        raise UserError(f"the teacher at {endpoint.url} answered none of the {len(prompts)} prompts "
                        f"of {', '.join(files)} (every answer was empty)")
    write_jsonl_atomic(out, rows)
    return len(rows), len(prompts) - len(rows)
