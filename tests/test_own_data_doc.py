"""docs/own-data.md, executed: its files are written and its commands run, in order, on a tiny
generated folder of mixed Chinese/English .txt and .jsonl (two malformed lines included), with
tiny sizes added to each command (key=value and later flags override the page's values)."""

from __future__ import annotations

import json
import re
import shlex
from pathlib import Path

import pytest

from lmforge.cli import main
from lmforge.data.corpus import demo_corpus
from lmforge.synth.skills import number_skill

DOC = Path(__file__).resolve().parent.parent / "docs" / "own-data.md"
BLOCK = re.compile(r"```(\w+)\n(.*?)```", re.S)

TINY = {  # verb -> what the test adds so that each step takes seconds
    "data clean": [],
    "tokenizer train": ["--vocab-size", "320"],
    "data pack": ["--workers", "1"],
    "pretrain": ["model.hidden_size=32", "model.intermediate_size=64", "model.num_hidden_layers=1",
                 "model.num_attention_heads=2", "model.num_key_value_heads=1", "train.max_steps=2",
                 "train.batch_size=2", "train.seq_len=64", "train.warmup_steps=0", "train.eval_every=0",
                 "train.eval_batches=1"],
    "sft": ["train.max_steps=2", "train.batch_size=2", "train.warmup_steps=0", "data.max_len=128"],
    "generate": ["--max-new-tokens", "4"],
}


def page_steps(text: str) -> list[tuple[str, str]]:
    """("file", yaml text) for a yaml block starting `# NAME`, ("run", command) for each
    `lmforge ...` line of a bash block, in page order."""
    steps = []
    for lang, body in BLOCK.findall(text):
        if lang == "yaml" and body.startswith("# "):
            steps.append(("file", body))
        elif lang == "bash":
            steps += [("run", line.strip()) for line in body.splitlines() if line.strip().startswith("lmforge ")]
    return steps


def _my_folders(root: Path) -> None:
    """my-data/: a .txt of mixed zh/en paragraphs and a .jsonl with two malformed lines; my-chat/."""
    docs = demo_corpus(max_chars=40_000, zh_share=0.5)
    (root / "my-data").mkdir()
    mixed = [p for pair in zip(docs["zh"][:12], docs["en"][:12]) for p in pair]
    (root / "my-data" / "notes.txt").write_text("\n\n".join(d.replace("\n\n", "\n") for d in mixed) + "\n",
                                                encoding="utf-8")
    lines = [json.dumps({"text": d}, ensure_ascii=False) for d in docs["zh"][12:24] + docs["en"][12:24]]
    lines[3:3] = ['{"text": "cut off', json.dumps({"body": "the wrong field"})]  # lines 4 and 5
    (root / "my-data" / "articles.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    (root / "my-chat").mkdir()
    (root / "my-chat" / "chat.jsonl").write_text("".join(
        json.dumps(r, ensure_ascii=False) + "\n" for r in number_skill(24, seed=0, numbers=range(10))),
        encoding="utf-8")


def test_page_has_every_step():
    steps = page_steps(DOC.read_text(encoding="utf-8"))
    verbs = [" ".join(c.split()[1:3]) if c.split()[1] in ("data", "tokenizer") else c.split()[1]
             for kind, c in steps if kind == "run"]
    assert verbs == ["data clean", "tokenizer train", "data pack", "pretrain", "pretrain", "sft", "sft", "generate"]
    assert [body.splitlines()[0] for kind, body in steps if kind == "file"] == ["# pretrain.yaml", "# sft.yaml"]


def _tiny(command: str) -> list[str]:
    argv = shlex.split(command)[1:]
    verb = next(v for v in TINY if argv[:len(v.split())] == v.split())
    return argv + TINY[verb]


@pytest.mark.slow
def test_own_data_walkthrough_runs(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    _my_folders(tmp_path)
    for kind, body in page_steps(DOC.read_text(encoding="utf-8")):
        if kind == "file":
            (tmp_path / body.splitlines()[0][2:].strip()).write_text(body, encoding="utf-8")
            continue
        assert main(_tiny(body)) == 0, body
        if body.startswith("lmforge data clean"):
            _check_clean(tmp_path / "work" / "clean")
    out = capsys.readouterr()
    assert "checked: model 1 layers" in out.out  # the two dry runs
    assert json.loads((tmp_path / "work" / "packed" / "manifest.json").read_text())["sources"].keys() == {"en", "zh"}
    for stage in ("pretrain", "sft"):
        assert (tmp_path / "work" / stage / "model" / "config.json").is_file()


def _check_clean(clean: Path) -> None:
    """The mixed folder became en and zh sources, and the two bad lines were counted and named."""
    report = json.loads((clean / "report.json").read_text(encoding="utf-8"))
    assert set(report["sources"]) == {"en", "zh"}
    skipped = [s for s in report["skipped"].values() if s["skipped"]]
    assert len(skipped) == 1 and skipped[0]["skipped"] == 2
    assert [p.split(": ")[0].rsplit("/", 1)[-1] for p in skipped[0]["first_skipped"]] == \
        ["articles.jsonl:4", "articles.jsonl:5"]
    for lang in ("en", "zh"):
        langs = {json.loads(x)["lang"] for x in (clean / f"{lang}.jsonl").read_text(encoding="utf-8").splitlines()}
        assert langs == {lang}
