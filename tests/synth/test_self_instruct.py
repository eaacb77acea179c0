"""Self-instruct against a real OpenAI-compatible HTTP endpoint on 127.0.0.1 (scripted teacher)."""

from __future__ import annotations

import json
import socket
import threading
import time

import pytest
import uvicorn
from fastapi import FastAPI

from lmforge.client import ChatClient
from lmforge.synth.self_instruct import Filters, parse_tasks, read_seed_tasks, self_instruct

TEACHER_TASKS = [
    "Instruction: Translate the number into English words.\nInput: 73\nOutput: seventy-three",
    "Instruction: Translate the number into English words.\nInput: 74\nOutput: seventy-four",  # near-dup
    "Instruction: Draw a picture of a cat.\nOutput: (drawing)",  # blacklisted
    "Instruction: Hi\nOutput: hello",  # too short
    "Instruction: List three prime numbers greater than ten.\nOutput: 11, 13, 17",
    "Instruction: Explain why the sky looks blue during the day.\nOutput: Rayleigh scattering.",
    "Instruction: Write a haiku about autumn leaves falling.\nOutput: Leaves drift down slowly.",
    "Instruction: Convert the temperature from Celsius to Fahrenheit.\nInput: 20\nOutput: 68",
    "Instruction: Summarize the story of Hamlet in one sentence.\nOutput: A prince avenges his father.",
]


@pytest.fixture
def teacher():
    app = FastAPI()
    state = {"calls": 0}

    @app.get("/v1/models")
    def models():
        return {"object": "list", "data": [{"id": "teacher", "object": "model"}]}

    @app.post("/v1/chat/completions")
    def chat(body: dict):
        i = state["calls"]
        state["calls"] += 1
        text = "\n###\n".join(TEACHER_TASKS[(3 * i) % 9:(3 * i) % 9 + 3])
        return {"choices": [{"index": 0, "message": {"role": "assistant", "content": text},
                             "finish_reason": "stop"}]}

    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="error"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    for _ in range(100):
        if server.started:
            break
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}", state
    server.should_exit = True
    thread.join(5)


@pytest.fixture
def seeds(tmp_path):
    p = tmp_path / "seed.jsonl"
    p.write_text("\n".join(json.dumps(x) for x in [
        {"instruction": "Give an antonym of the word.", "instances": [{"input": "hot", "output": "cold"}]},
        {"instruction": "Add the two numbers together.", "input": "2 and 3", "output": "5"},
    ]))
    return p


def test_generates_filtered_records_and_resumes(tmp_path, teacher, seeds):
    url, state = teacher
    out = tmp_path / "gen.jsonl"
    filters = Filters()
    counts = self_instruct(ChatClient(url), read_seed_tasks(seeds), n=3, out=out, filters=filters)
    recs = [json.loads(x) for x in out.read_text().splitlines()]
    assert len(recs) == 3 and counts["kept"] == 3
    insts = [r["instruction"] for r in recs]
    assert not any("picture" in i or i == "Hi" for i in insts)
    assert sum(i.startswith("Translate the number") for i in insts) <= 1  # ROUGE-L dedup
    assert counts.get("rejected_keyword") and counts.get("rejected_length")
    # a rerun asking for more appends only new, non-duplicate records
    self_instruct(ChatClient(url), read_seed_tasks(seeds), n=6, out=out, seed=1)
    recs2 = [json.loads(x) for x in out.read_text().splitlines()]
    assert recs2[:3] == recs and len(recs2) == 6
    assert len({r["instruction"] for r in recs2}) == 6


def test_rate_limit(teacher):
    url, _ = teacher
    client = ChatClient(url, model="teacher", rps=20)
    t0 = time.monotonic()
    for _ in range(5):
        client.chat([{"role": "user", "content": "x"}])
    assert time.monotonic() - t0 >= 4 / 20 * 0.9


def test_parse_chinese_tasks():
    text = "指令：把数字翻译成中文。\n输入：73\n输出：七十三\n###\n指令：写一句问候语。\n输出：你好！"
    tasks = parse_tasks(text, "zh")
    assert tasks == [{"instruction": "把数字翻译成中文。", "input": "73", "output": "七十三"},
                     {"instruction": "写一句问候语。", "input": "", "output": "你好！"}]


def test_bad_seed_file(tmp_path):
    p = tmp_path / "s.jsonl"
    p.write_text('{"instruction": "ok", "output": "x"}\n{broken\n')
    with pytest.raises(ValueError, match="s.jsonl:2: invalid JSON"):
        read_seed_tasks(p)


def test_resume_drops_a_line_cut_off_by_a_kill(tmp_path):
    from lmforge.synth.self_instruct import _resume

    out = tmp_path / "gen.jsonl"
    good = json.dumps({"instruction": "Name a color.", "input": "", "output": "red"}) + "\n"
    out.write_text(good + '{"instruction": "Name a fru')
    assert _resume(out) == [json.loads(good)]
    assert out.read_text() == good  # the next append starts on a line of its own
