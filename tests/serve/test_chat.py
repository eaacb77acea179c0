"""Terminal chat: history through the chat template, streaming, /reset and /system."""

from __future__ import annotations

import io

from lmforge.model.generate import SamplingParams, generate
from lmforge.serve.chat import ChatSession, chat_loop
from lmforge.serve.text import StreamDecoder, load_for_inference, stop_token_ids
from lmforge.tokenizer.chat_template import render


def test_session_keeps_history_and_streams(model_dir):
    model, tok = load_for_inference(model_dir)
    s = ChatSession(model, tok, SamplingParams(max_new_tokens=12), system="Be brief.")
    pieces: list[str] = []
    first = s.reply("hello", pieces.append)
    assert "".join(pieces) == first and len([p for p in pieces if p]) > 1
    s.reply("你好", lambda _t: None)
    assert [m["role"] for m in s.messages()] == ["system", "user", "assistant", "user", "assistant"]
    # the second answer was conditioned on the whole history: same as generate on the render
    ids, _ = render(tok, s.messages()[:-1], add_generation_prompt=True)
    stops = stop_token_ids(tok, model.config)
    out = generate(model, [ids], SamplingParams(max_new_tokens=12, stop_token_ids=stops))[0]
    dec = StreamDecoder(tok, stop_ids=set(stops))
    assert s.history[-1]["content"] == "".join(dec.feed(t)[0] for t in out) + dec.flush()
    s.reset()
    assert s.messages() == [{"role": "system", "content": "Be brief."}]


def test_chat_loop_commands(model_dir):
    model, tok = load_for_inference(model_dir)
    stdin = io.StringIO("hi\n/system Talk like a pirate\nhello\n/reset\n/bogus\n/quit\n")
    stdout = io.StringIO()
    chat_loop(model, tok, SamplingParams(max_new_tokens=4), stdin=stdin, stdout=stdout)
    out = stdout.getvalue()
    assert "system prompt set" in out and "conversation cleared" in out and "unknown command '/bogus'" in out
