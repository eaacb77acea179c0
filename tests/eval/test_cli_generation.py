"""`lmforge eval gsm8k` / `translation`: the CLI gives the library's numbers, bad files say where."""

from __future__ import annotations

import json

from lmforge.cli import main


def test_gsm8k_and_translation_cli(tmp_path, model_dir, capsys):
    from lmforge.eval.tasks.gsm8k import evaluate_gsm8k, read_gsm8k
    from lmforge.eval.tasks.translation import evaluate_translation
    from lmforge.model import load_model
    from lmforge.tokenizer.core import Tokenizer

    gsm = tmp_path / "gsm.jsonl"
    gsm.write_text("".join(json.dumps({"question": f"What is {i} + 1?", "answer": f"{i} + 1 = {i + 1}\n#### {i + 1}"})
                           + "\n" for i in range(4)))
    pairs = tmp_path / "pairs.jsonl"
    pairs.write_text("".join(json.dumps({"zh": z, "en": e}) + "\n"
                             for z, e in [("你好", "hello"), ("谢谢", "thank you")]))
    out = tmp_path / "res"
    assert main(["eval", "gsm8k", "--model", str(model_dir), "--data", str(gsm), "--fewshot", str(gsm),
                 "--shots", "2", "--max-new-tokens", "6", "--out", str(out / "gsm")]) == 0
    assert main(["eval", "translation", "--model", str(model_dir), "--data", str(pairs), "--max-new-tokens", "6",
                 "--out", str(out / "tr")]) == 0
    got = {**json.loads((out / "gsm" / "results.json").read_text())["results"],
           **json.loads((out / "tr" / "results.json").read_text())["results"]}
    assert "| gsm8k | 4 | 2 |" in (out / "gsm" / "results.md").read_text()
    model, tok = load_model(model_dir).eval(), Tokenizer.from_dir(model_dir)
    items = read_gsm8k(str(gsm))
    assert got["gsm8k"] == evaluate_gsm8k(model, tok, items, items, 2, max_new_tokens=6, batch_size=16)
    assert got["translation zh-en"] == evaluate_translation(model, tok, [("你好", "hello"), ("谢谢", "thank you")],
                                                            "zh-en", 6)
    assert got["gsm8k"]["n"] == 4 and got["gsm8k"]["shots"] == 2


def test_generation_cli_errors(tmp_path, model_dir, capsys):
    pairs = tmp_path / "pairs.jsonl"
    pairs.write_text('{"zh": "你好", "en": "hello"}\n{"zh": "谢谢"}\n')
    assert main(["eval", "translation", "--model", str(model_dir), "--data", str(pairs)]) == 2
    assert "pairs.jsonl:2: needs keys 'zh' and 'en'" in capsys.readouterr().err
    gsm = tmp_path / "g.jsonl"
    gsm.write_text('{"question": "q", "answer": "#### 1"}\n')
    assert main(["eval", "gsm8k", "--model", str(model_dir), "--data", str(gsm), "--shots", "3"]) == 2
    assert "shots > 0 needs fewshot" in capsys.readouterr().err
    gsm.write_text("")
    assert main(["eval", "gsm8k", "--model", str(model_dir), "--data", str(gsm)]) == 2
    assert "g.jsonl: no GSM8K records" in capsys.readouterr().err
