"""Terminal chat: history through the chat template, streaming, /reset and /system."""

from __future__ import annotations

import io

from lmforge.model.generate import SamplingParams, generate
from lmforge.model.loader import load_for_inference, stop_token_ids
from lmforge.serve.chat import ChatSession, chat_loop
from lmforge.serve.text import StreamDecoder
from lmforge.tokenizer.chat_template import render


def test_session_keeps_history_and_streams(model_dir):
    loaded = load_for_inference(model_dir)
    model, tok = loaded.model, loaded.tokenizer
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
    loaded = load_for_inference(model_dir)
    model, tok = loaded.model, loaded.tokenizer
    stdin = io.StringIO("hi\n/system Talk like a pirate\nhello\n/reset\n/bogus\n/quit\n")
    stdout = io.StringIO()
    chat_loop(model, tok, SamplingParams(max_new_tokens=4), stdin=stdin, stdout=stdout)
    out = stdout.getvalue()
    assert "system prompt set" in out and "conversation cleared" in out and "unknown command '/bogus'" in out


def test_exit_and_quit_end_the_chat(model_dir):
    loaded = load_for_inference(model_dir)
    model, tok = loaded.model, loaded.tokenizer
    for word in ("exit", "quit", "/quit", "/exit", "EXIT"):
        stdout = io.StringIO()
        chat_loop(model, tok, SamplingParams(max_new_tokens=2), stdin=io.StringIO(f"{word}\nhello\n"),
                  stdout=stdout)
        assert stdout.getvalue().count("> ") == 1  # stopped at the first line, never answered "hello"


def test_chat_flags_key_values_and_run_chat(model_dir):
    from lmforge.serve.chat import ChatConfig, run_chat
    from tests.cli_config import config_of

    def config(argv):
        return config_of(["chat", *argv])

    by_flag = config([str(model_dir), "--max-tokens", "3", "--temperature", "0", "--system", "Be brief."])
    by_key = config(["max_new_tokens=3", str(model_dir), "temperature=0", "system=Be brief."])
    assert by_flag == by_key == ChatConfig(model=str(model_dir), max_new_tokens=3, temperature=0,
                                           system="Be brief.")
    assert config([str(model_dir)]).temperature == 0.7  # chat keeps its own sampling defaults
    stdout = io.StringIO()
    run_chat(by_flag, stdin=io.StringIO("hello\nquit\n"), stdout=stdout)
    loaded = load_for_inference(model_dir)
    model, tok = loaded.model, loaded.tokenizer
    want = io.StringIO()
    chat_loop(model, tok, by_flag.sampling(), "Be brief.", io.StringIO("hello\nquit\n"), want)
    assert stdout.getvalue() == want.getvalue()
