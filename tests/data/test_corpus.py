"""The built-in demo corpus: bilingual (at least 40% Chinese at the demo recipe's size)."""

from pathlib import Path

import yaml

from lmforge.data.corpus import demo_corpus, news_documents
from lmforge.text import count_cjk, language

DEMO = Path(__file__).parents[2] / "lmforge" / "recipes" / "builtin" / "demo.yaml"


def test_the_demo_recipes_corpus_is_at_least_40_percent_chinese():
    stage = yaml.safe_load(DEMO.read_text(encoding="utf-8"))["stages"]["corpus"]
    docs = demo_corpus(stage["max_chars"], stage["zh_share"])
    chars = {lang: 0 for lang in ("zh", "en", "other")}
    for source in docs.values():
        for d in source:
            chars[language(d)] += len(d)
    total = sum(chars.values())
    assert chars["zh"] / total >= 0.40, chars
    assert abs(total - stage["max_chars"]) < 0.05 * stage["max_chars"]  # replaced English, not added
    assert {language(d) for d in docs["zh"]} == {"zh"} and {language(d) for d in docs["en"]} == {"en"}


def test_news_documents_are_plain_modern_chinese_without_tags():
    docs = list(news_documents())
    assert len(docs) > 500 and sum(map(len, docs)) > 1_500_000
    first = docs[0]
    assert first.startswith("迈向充满希望的新世纪——一九九八年新年讲话")
    assert not any("/n" in d or "/v " in d or "  " in d for d in docs)
    assert count_cjk(first) > 0.7 * len(first)
