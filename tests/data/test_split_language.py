"""Bring-your-own-data reading (issue 17 item 3): .txt paragraphs by default, and mixed-language
files split into language sources so that `weights: {en, zh}` works on any files."""

from __future__ import annotations

import json

from lmforge.cli import main
from lmforge.data.read import documents_by_language, read_documents

EN = ["The river runs past the old mill and into the valley below the town.",
      "Farmers bring their vegetables to the market every Saturday morning."]
ZH = ["今天天气很好，我们去公园散步吧。公园里有很多人在锻炼身体。",
      "这本书讲述了一个小村庄的故事，村里的人们世代以种田为生。"]


def test_txt_default_is_paragraphs_when_the_file_has_them(tmp_path):
    (tmp_path / "p.txt").write_text(f"{EN[0]}\nsecond line of it\n\n{ZH[0]}\n\n\n{EN[1]}\n", encoding="utf-8")
    assert list(read_documents([tmp_path / "p.txt"], txt_mode="auto")) == \
        [f"{EN[0]}\nsecond line of it", ZH[0], EN[1]]
    assert len(list(read_documents([tmp_path / "p.txt"], txt_mode="file"))) == 1  # still available


def test_txt_without_blank_lines_is_one_document_per_line(tmp_path):
    (tmp_path / "l.txt").write_text("\n".join(EN + ZH) + "\n\n", encoding="utf-8")  # a trailing blank line only
    assert list(read_documents([tmp_path / "l.txt"], txt_mode="auto")) == EN + ZH


def test_mixed_files_split_into_en_and_zh(tmp_path):
    (tmp_path / "raw").mkdir()
    (tmp_path / "raw" / "notes.txt").write_text(f"{EN[0]}\n\n{ZH[0]}\n\n{EN[1]}\n", encoding="utf-8")
    (tmp_path / "raw" / "more.jsonl").write_text(json.dumps({"text": ZH[1]}, ensure_ascii=False) + "\n"
                                                 + "{broken\n", encoding="utf-8")
    sources = documents_by_language([tmp_path / "raw"], txt_mode="auto")
    assert {k: sorted(v) for k, v in sources.items()} == {"zh": sorted(ZH), "en": sorted(EN)}
    assert sources["zh"].stats.skipped == 1 and sources["en"].stats.skipped == 0  # counted once

    out = tmp_path / "clean"
    assert main(["data", "clean", "--input", str(tmp_path / "raw"), "--out", str(out),
                 "--split-by", "language", "steps=[]"]) == 0
    rows = {lang: [json.loads(x) for x in (out / f"{lang}.jsonl").read_text(encoding="utf-8").splitlines()]
            for lang in ("en", "zh")}
    assert sorted(r["text"] for r in rows["en"]) == sorted(EN) and {r["lang"] for r in rows["en"]} == {"en"}
    assert sorted(r["text"] for r in rows["zh"]) == sorted(ZH) and {r["lang"] for r in rows["zh"]} == {"zh"}
    report = json.loads((out / "report.json").read_text(encoding="utf-8"))
    assert set(report["sources"]) == {"zh", "en"}
    assert sum(s.get("records_skipped", 0) for s in report["sources"].values()) == 1
