"""The contamination experiment's pieces: planting a share of a benchmark into a corpus, and the
n-gram detector finding exactly the planted questions (issue 20)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from lmforge.data.read import read_documents
from lmforge.errors import UserError
from lmforge.eval.contamination import contamination, ngrams
from lmforge.eval.leak import PlantConfig, detector_counts, page_text, read_leaked, run_plant
from lmforge.eval.task import MCItem
from lmforge.eval.tasks import load_task
from lmforge.synth.mc_data import MCDataConfig, run_mc_data

NATURAL = ["The river runs past the old mill and the children play on its banks every summer.",
           "春天来了，河边的柳树发芽了，孩子们在草地上放风筝，老人们坐在树下喝茶聊天。"]


@pytest.fixture
def setup(tmp_path: Path) -> tuple[Path, Path]:
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "en.jsonl").write_text(json.dumps({"text": NATURAL[0]}) + "\n", encoding="utf-8")
    (corpus / "zh.jsonl").write_text("".join(json.dumps({"text": NATURAL[1]}, ensure_ascii=False) + "\n"
                                             for _ in range(3)), encoding="utf-8")
    run_mc_data(MCDataConfig(out=str(tmp_path / "mc"), items=12))  # 24 questions, zh and en
    return corpus, tmp_path / "mc"


def test_plant_writes_each_leaked_question_copies_times_and_no_other(setup, tmp_path):
    corpus, mc = setup
    r = run_plant(PlantConfig(out=str(tmp_path / "out"), corpus=str(corpus), tasks=str(mc),
                              share=0.5, copies=3, per_page=5))
    task = load_task("ceval", mc)
    assert r.questions == 24 and len(r.leaked) == 12 and r.source == "zh"  # the larger file
    assert r.pages == 3 * 3  # 12 questions in pages of 5 -> 3 pages per copy
    pages = [d for d in read_documents([tmp_path / "out" / "corpus" / "zh.leaked.jsonl"])]
    text = "\n\n".join(pages)
    leaked = read_leaked(tmp_path / "out" / "leaked.json")
    for i, x in enumerate(task.items):
        shown = page_text(task, [i])  # the zero-shot prompt followed by " " + the answer letter
        assert text.count(shown) == (3 if x.where in leaked else 0), x.where
    assert sorted(p.name for p in (tmp_path / "out" / "corpus").iterdir()) == \
        ["en.jsonl", "zh.jsonl", "zh.leaked.jsonl"]


def test_detector_flags_exactly_the_planted_questions(setup, tmp_path):
    corpus, mc = setup
    run_plant(PlantConfig(out=str(tmp_path / "out"), corpus=str(corpus), tasks=str(mc), copies=2))
    task, leaked = load_task("ceval", mc), read_leaked(tmp_path / "out" / "leaked.json")
    for folder, expect in ((tmp_path / "out" / "corpus", len(leaked)), (corpus, 0)):
        rep = contamination(task.items, read_documents([folder]), progress=False)
        counts = detector_counts({r["where"]: r["contaminated"] for r in rep["items"]}, leaked)
        assert counts["tp"] == expect and counts["fp"] == 0
        assert counts["fn"] == len(leaked) - expect and counts["tn"] == 24 - len(leaked)


def test_option_labels_do_not_hide_a_leak():
    item = MCItem("How is 42 written in English words?", ["forty-two", "seventeen", "sixty-one", "eight"], 0)
    formatted = "How is 42 written in English words?\nA. forty-two\nB. seventeen\nC. sixty-one\nD. eight\nAnswer: A"
    assert ngrams(formatted) >= ngrams("\n".join([item.question, *item.choices]))
    assert contamination([item], [formatted], progress=False)["contaminated"] == 1


def test_a_short_item_matches_whole_words_only():
    item = MCItem("Spell the number out:", ["forty eight", "six"], 0)  # 7 < 13 words: matched whole
    assert contamination([item], ["spell the number out forty eighty six"], progress=False)["contaminated"] == 0
    assert contamination([item], ["so: spell the number out: forty eight six."], progress=False)["contaminated"] == 1


def test_detector_counts_and_a_bad_leaked_file(tmp_path):
    flags = {"a": True, "b": True, "c": False, "d": False}
    assert detector_counts(flags, {"a", "c"}) == {"tp": 1, "fp": 1, "fn": 1, "tn": 1}
    bad = tmp_path / "leaked.json"
    bad.write_text("[1, 2]")
    with pytest.raises(UserError, match="leaked.json"):
        read_leaked(bad)
