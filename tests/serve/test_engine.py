"""Continuous batching gives each request exactly what it would get alone."""

from __future__ import annotations

import threading

from lmforge.model.generate import SamplingParams, generate
from lmforge.serve.engine import Engine, Request


def test_batched_requests_joining_midway_match_generate(tiny_model):
    engine = Engine(tiny_model, max_batch=4)
    prompts = [[1, 5, 7], [3, 4, 5, 6, 7, 8, 9, 10, 11], [9], [20, 21, 22, 23], [2] * 12, [40, 41]]
    lengths = [30, 10, 25, 5, 12, 20]
    outs = [[] for _ in prompts]
    reasons: list[str | None] = [None] * len(prompts)
    done = [threading.Event() for _ in prompts]
    started = threading.Event()

    def submit(i: int, stop: tuple[int, ...] = ()) -> None:
        def emit(tok, reason):
            if tok is None:
                reasons[i] = reason
                done[i].set()
            else:
                outs[i].append(tok)
                started.set()
        engine.submit(Request(prompts[i], SamplingParams(max_new_tokens=lengths[i], stop_token_ids=stop), emit))

    try:
        for i in range(3):
            submit(i)
        started.wait(10)
        for i in range(3, 6):  # arrive while the first ones decode; more than max_batch in all
            submit(i)
        assert all(e.wait(30) for e in done)
    finally:
        engine.close()
    for i, p in enumerate(prompts):
        assert outs[i] == generate(tiny_model, [p], SamplingParams(max_new_tokens=lengths[i]))[0], i
        assert reasons[i] == "length"
    assert 1 < engine.peak_batch <= 4


def test_stop_token_and_cancel(tiny_model):
    ref = generate(tiny_model, [[5, 6]], SamplingParams(max_new_tokens=8))[0]
    engine = Engine(tiny_model)
    got, finished = [], threading.Event()
    result = {}

    def emit(tok, reason):
        if tok is None:
            result["reason"] = reason
            finished.set()
        else:
            got.append(tok)
    try:
        engine.submit(Request([5, 6], SamplingParams(max_new_tokens=8, stop_token_ids=(ref[3],)), emit))
        assert finished.wait(10)
        assert got == ref[:ref.index(ref[3]) + 1] and result["reason"] == "stop"
        req = engine.submit(Request([5, 6], SamplingParams(max_new_tokens=10_000), lambda t, r: None))
        req.cancel()
        for _ in range(100):
            if not engine.active and engine.incoming.empty():
                break
            threading.Event().wait(0.05)
        assert not engine.active
    finally:
        engine.close()
