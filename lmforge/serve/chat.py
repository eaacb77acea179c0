"""Terminal chat: the model's chat template over the whole history, tokens streamed as they come."""

from __future__ import annotations

import sys
from dataclasses import replace
from typing import Callable, TextIO

from lmforge.model.generate import SamplingParams, generate
from lmforge.serve.text import StreamDecoder, stop_token_ids
from lmforge.tokenizer.chat_template import render

HELP = "commands: /reset (forget the conversation), /system TEXT (set the system prompt), /quit"


class ChatSession:
    """History plus one `reply` per user turn; `write` receives the streamed text."""

    def __init__(self, model, tokenizer, params: SamplingParams, system: str | None = None):
        if not tokenizer.chat_template:
            raise ValueError("the model's tokenizer_config.json has no chat_template; chat needs one "
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
            raise ValueError("the conversation fills the model's context; /reset to start over")
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


def chat_loop(model, tokenizer, params: SamplingParams, system: str | None = None,
              stdin: TextIO = sys.stdin, stdout: TextIO = sys.stdout) -> None:
    session = ChatSession(model, tokenizer, params, system)

    def write(text: str) -> None:
        stdout.write(text)
        stdout.flush()

    write(f"lmforge chat — {HELP}\n")
    while True:
        write("\n> ")
        line = stdin.readline()
        if not line or line.strip() in ("/quit", "/exit"):
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
