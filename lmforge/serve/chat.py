"""Terminal chat: the model's chat template over the whole history, tokens streamed as they come.
`run_chat(ChatConfig)` is the operation behind `lmforge chat`."""

from __future__ import annotations

import sys
from dataclasses import replace
from typing import Callable, Iterator, TextIO

from pydantic import ConfigDict, Field

from lmforge.errors import UserError
from lmforge.model.generate import SamplingParams, generate
from lmforge.model.loader import load_for_inference, stop_token_ids
from lmforge.serve.options import ModelOnDevice, Sampling
from lmforge.serve.text import StreamDecoder
from lmforge.tokenizer.chat_template import render

HELP = "commands: /reset (forget the conversation), /system TEXT (set the system prompt), /quit (or exit, quit)"
QUIT = ("/quit", "/exit", "quit", "exit")


class ChatConfig(ModelOnDevice, Sampling):
    """A terminal conversation with a model folder that has a chat template."""

    model_config = ConfigDict(extra="forbid")
    system: str | None = Field(None, description="system prompt")
    max_new_tokens: int = Field(256, ge=0, description="most tokens per answer")
    temperature: float = Field(0.7, ge=0, description="0 = greedy")
    top_p: float = Field(0.9, gt=0, le=1, description="nucleus sampling mass")
    repetition_penalty: float = Field(1.1, gt=0, description="CTRL-style penalty on seen tokens (1 = none)")


class ChatSession:
    """History plus one `reply` per user turn; `write` receives the streamed text."""

    def __init__(self, model, tokenizer, params: SamplingParams, system: str | None = None):
        if not tokenizer.chat_template:
            raise UserError("the model's tokenizer_config.json has no chat_template; chat needs one "
                            "(`lmforge generate` works without)")
        self.model, self.tokenizer = model, tokenizer
        self.params = replace(params, stop_token_ids=stop_token_ids(tokenizer, model.config))
        self.system = system
        self.history: list[dict[str, str]] = []

    def messages(self) -> list[dict[str, str]]:
        head = [{"role": "system", "content": self.system}] if self.system else []
        return head + self.history

    def reset(self) -> None:
        self.history = []

    def reply(self, user: str, write: Callable[[str], None]) -> str:
        self.history.append({"role": "user", "content": user})
        ids, _ = render(self.tokenizer, self.messages(), add_generation_prompt=True)
        room = self.model.config.max_position_embeddings - len(ids)
        if room <= 0:
            self.history.pop()
            raise UserError("the conversation fills the model's context; /reset to start over")
        decoder = StreamDecoder(self.tokenizer, stop_ids=set(self.params.stop_token_ids))
        parts: list[str] = []

        def on_token(_row: int, tok: int) -> None:
            delta, _ = decoder.feed(tok)
            parts.append(delta)
            write(delta)

        params = replace(self.params, max_new_tokens=min(self.params.max_new_tokens, room))
        generate(self.model, [ids], params, pad_id=self.tokenizer.pad_id, on_token=on_token)
        parts.append(decoder.flush())
        write(parts[-1])
        answer = "".join(parts)
        self.history.append({"role": "assistant", "content": answer})
        return answer


def _lines(stdin: TextIO) -> Iterator[str | UnicodeDecodeError]:
    """Input lines as text; a line that is not UTF-8 comes as its decoding error (the lines
    after it still read: the bytes are decoded one line at a time)."""
    buffer = getattr(stdin, "buffer", None)
    if buffer is None:
        yield from iter(stdin.readline, "")
        return
    for raw in iter(buffer.readline, b""):
        try:
            yield raw.decode("utf-8")
        except UnicodeDecodeError as e:
            yield e


def chat_loop(model, tokenizer, params: SamplingParams, system: str | None = None,
              stdin: TextIO | None = None, stdout: TextIO | None = None) -> None:
    session = ChatSession(model, tokenizer, params, system)
    stdout = stdout or sys.stdout
    lines = _lines(stdin or sys.stdin)

    def write(text: str) -> None:
        stdout.write(text)
        stdout.flush()

    write(f"lmforge chat — {HELP}\n")
    while True:
        write("\n> ")
        line = next(lines, "")
        if isinstance(line, UnicodeDecodeError):
            write(f"error: that line is not UTF-8 text (byte {line.object[line.start]:#04x} at column "
                  f"{line.start + 1}); it was ignored\n")
            continue
        if not line or line.strip().lower() in QUIT:
            write("\n")
            return
        line = line.rstrip("\n")
        if line.strip() == "/reset":
            session.reset()
            write("(conversation cleared)\n")
        elif line.startswith("/system"):
            session.system = line[len("/system"):].strip() or None
            session.reset()
            write(f"(system prompt {'set' if session.system else 'cleared'}; conversation cleared)\n")
        elif line.startswith("/"):
            write(f"unknown command {line.split()[0]!r}; {HELP}\n")
        elif line.strip():
            try:
                session.reply(line, write)
            except ValueError as e:
                write(f"error: {e}\n")
            write("\n")


def run_chat(cfg: ChatConfig, stdin: TextIO | None = None, stdout: TextIO | None = None) -> None:
    """`lmforge chat`: load the folder and talk until /quit, exit or end of input."""
    loaded = load_for_inference(cfg.model, cfg.device, cfg.dtype)
    chat_loop(loaded.model, loaded.tokenizer, cfg.sampling(), cfg.system, stdin, stdout)
