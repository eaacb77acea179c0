from lmforge.eval.contamination import contamination, ngrams, packed_documents
from lmforge.eval.task import MCItem

EN = ("Which of the following best describes the function of the mitochondria in eukaryotic "
      "cells during aerobic respiration and energy production")
ZH = "下列关于中华人民共和国宪法规定的公民基本权利和义务的说法中哪一项是正确的"


def items():
    return [MCItem(EN, ["a", "b"], 0, "biology", "q1"), MCItem(ZH, ["甲", "乙"], 0, "law", "q2"),
            MCItem("What is the capital city of the small landlocked country described in the "
                   "passage above today", ["x", "y"], 0, "geo", "q3"),
            MCItem("关于唐代诗人李白的生平和作品风格以下哪个描述最准确无误呢", ["x"], 0, "lit", "q4")]


def test_ngrams_units():
    assert len(ngrams(ZH)) == len(ZH) - 13 + 1 - 0  # every character is Han
    assert all(len(g.split()) == 13 for g in ngrams(EN))


def test_planted_overlap_found_clean_not():
    corpus = ["Some unrelated text about cooking pasta. " + EN[20:].upper() + " more words here",
              "无关的文本。" + ZH[3:20] + "，以及其他内容。", "Nothing relevant at all in this one."]
    rep = contamination(items(), corpus, progress=False)
    flags = {r["where"]: r["contaminated"] for r in rep["items"]}
    assert flags == {"q1": True, "q2": True, "q3": False, "q4": False}
    assert rep["subjects"]["biology"]["rate"] == 1.0 and rep["contaminated"] == 2


def test_packed_shards(tmp_path, model_dir):
    from lmforge.tokens.pack import pack_texts
    from lmforge.tokenizer.core import Tokenizer
    tok = Tokenizer.from_dir(model_dir)
    out = pack_texts({"web": ["clean document one", "prefix " + EN + " suffix", "另一个" + ZH]},
                     tok, tmp_path / "packed", val_fraction=0.0)
    rep = contamination(items(), packed_documents(out, model_dir), progress=False)
    assert [r["contaminated"] for r in rep["items"]] == [True, True, False, False]
