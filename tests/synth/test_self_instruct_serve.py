"""`lmforge sft-data self-instruct` against `lmforge serve` on 127.0.0.1 with a trained model.

The model is a tiny one taught to answer in the teacher format (a block of three tasks), so the
whole path is real: CLI -> HTTP client -> OpenAI-compatible server -> batching engine -> model
-> parser -> filters -> alpaca jsonl -> `lmforge sft` data loading.
"""

from __future__ import annotations

import json

import pytest

from lmforge.cli import main
from tests.export.conftest import make_model_dir
from tests.serve.conftest import start_server

BLOCK = ("Instruction: Name a prime number.\nOutput: 7\n###\n"
         "Instruction: Name a sky color.\nOutput: blue\n###\n"
         "Instruction: Add one and one.\nOutput: 2")


SEEDS = [{"instruction": "Give an antonym of the word.", "input": "hot", "output": "cold"},
         {"instruction": "Translate the sentence into French.", "input": "Good morning", "output": "Bonjour"}]


@pytest.fixture(scope="module")
def teacher_dir(tmp_path_factory):
    import torch

    from lmforge.model import load_model, save_model
    from lmforge.model.transformer import causal_lm_loss
    from lmforge.tokenizer import Tokenizer
    from lmforge.tokenizer.chat_template import render

    from lmforge.synth.self_instruct import encode_prompt

    root = tmp_path_factory.mktemp("teacher")
    folder = make_model_dir(root, steps=0)
    model, tok = load_model(folder), Tokenizer.from_dir(folder)
    # the requests self-instruct will send: the two seed tasks, in either order
    rows = [render(tok, [{"role": "user", "content": encode_prompt(pool, "en")},
                         {"role": "assistant", "content": BLOCK}]) for pool in (SEEDS, SEEDS[::-1])]
    x = torch.tensor([ids for ids, _ in rows])
    labels = torch.where(torch.tensor([m for _, m in rows]).bool(), x, torch.full_like(x, -100))
    opt = torch.optim.AdamW(model.parameters(), lr=1e-2)
    for _ in range(250):  # memorise the block: the teacher's answer to those requests
        loss = causal_lm_loss(model(x), labels)
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert loss.item() < 0.05
    return save_model(model.eval(), root / "taught", created_by="test", copy_from=folder)


def test_self_instruct_cli_against_lmforge_serve(tmp_path, teacher_dir):
    from lmforge.sft.data import encode_records, read_jsonl
    from lmforge.tokenizer import Tokenizer

    seeds = tmp_path / "seed.jsonl"
    seeds.write_text("\n".join(json.dumps(x) for x in SEEDS))
    out = tmp_path / "gen.jsonl"
    live, stop = start_server(teacher_dir, api_key="k", max_tokens_cap=512, max_prompt_tokens=4096)
    try:
        args = ["sft-data", "self-instruct", "--teacher", live.url, "--api-key", "k",
                "--seed-tasks", str(seeds), "--out", str(out), "--rps", "50", "--max-tokens", "150",
                "--temperature", "0"]
        assert main(args + ["--n", "3"]) == 0
        recs = [json.loads(x) for x in out.read_text().splitlines()]
        assert [r["instruction"] for r in recs] == ["Name a prime number.", "Name a sky color.",
                                                    "Add one and one."]
        # a rerun asking for more keeps what is there and adds no duplicate (the teacher repeats itself)
        # (a shorter answer: the prompt now also shows generated tasks, and the context is 512)
        assert main(args[:-4] + ["--max-tokens", "20", "--temperature", "0", "--n", "5",
                                 "--max-requests", "2"]) == 0
        again = [json.loads(x) for x in out.read_text().splitlines()]
        assert again[:3] == recs and len({r["instruction"] for r in again}) == len(again)
    finally:
        stop()
    samples, stats = encode_records(Tokenizer.from_dir(teacher_dir), read_jsonl(out), 256, "drop")
    assert len(samples) == 3 and stats["kept"] == 3
