"""One shard of the clean + dedup pipeline, as a worker runs it.

A shard is a chunk of one source's documents. The worker cleans them, writes the kept lines
(`{"text", "lang"}` jsonl, exactly as they go out) to `<parts>/<index>.jsonl` and their keys
(global id = shard index << 32 | row, exact key, MinHash signature, length, language) to
`<parts>/<index>.npz`, and returns the counts. Nothing here knows about pools or clusters.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO, Iterable, Iterator

import numpy as np

from lmforge.data import charclass
from lmforge.data.clean import Cleaner
from lmforge.data.dedup import DedupSettings, DocKeys
from lmforge.data.read import Documents
from lmforge.data.remote import RemoteDocuments, is_url
from lmforge.text import ReadStats

LANGS = ("zh", "en", "other")
ROW_BITS = 32


@dataclass
class FileShard:
    """A file the worker reads itself (a local path or a URL), with how to read it."""

    path: str
    field: str = "text"
    txt_mode: str = "file"
    strict: bool = False

    def documents(self) -> Documents | RemoteDocuments:
        if is_url(self.path):
            return RemoteDocuments([self.path], self.field, self.strict, self.path)
        return Documents([self.path], self.field, self.txt_mode, self.strict)  # type: ignore[arg-type]


@dataclass
class ShardTask:
    index: int
    source: str
    texts: list[str] | FileShard
    parts: str
    steps: list[dict[str, Any]] | None = None
    dedup: DedupSettings | None = None


@dataclass
class ShardResult:
    index: int
    source: str
    docs_in: int = 0
    chars_in: int = 0
    dropped_by_filters: int = 0
    steps: dict[str, dict[str, int]] = field(default_factory=dict)
    read: ReadStats | None = None  # a FileShard's records read and skipped


def chunks(texts: Iterable[str], max_docs: int = 2000, max_chars: int = 4_000_000) -> Iterator[list[str]]:
    """Lists of documents of bounded size, in order."""
    buf: list[str] = []
    n = 0
    for t in texts:
        buf.append(t)
        n += len(t)
        if len(buf) >= max_docs or n >= max_chars:
            yield buf
            buf, n = [], 0
    if buf:
        yield buf


def part_paths(parts: str | Path, index: int) -> tuple[Path, Path]:
    return Path(parts) / f"{index:08d}.jsonl", Path(parts) / f"{index:08d}.npz"


def process_shard(task: ShardTask) -> ShardResult:
    """Clean one shard a batch at a time; append each batch's kept lines to the part file and
    keep only their keys (a shard may be a whole input file: its text is never all in memory)."""
    cleaner = Cleaner(steps=task.steps) if task.steps is not None else Cleaner()
    res = ShardResult(task.index, task.source)
    docs = task.texts.documents() if isinstance(task.texts, FileShard) else task.texts
    jsonl, npz = part_paths(task.parts, task.index)
    keys: list[dict[str, np.ndarray]] = []
    row = 0
    with open(jsonl, "wb") as out:
        for block in chunks(docs, max_docs=1000, max_chars=1 << 20):
            res.docs_in += len(block)
            res.chars_in += sum(map(len, block))
            cleaned = cleaner.clean_many(block)
            ids = [task.index << ROW_BITS | (row + i) for i, t in enumerate(cleaned) if t is not None]
            kept = [t for t in cleaned if t is not None]
            res.dropped_by_filters += len(block) - len(kept)
            row += len(block)
            keys.append(_write_batch(out, ids, kept, task.dedup))
    res.steps = {k: vars(v) for k, v in cleaner.stats.items()}
    res.read = getattr(docs, "stats", None)
    batches = keys or [_write_batch(None, [], [], task.dedup)]  # an empty shard: empty arrays of the right shapes
    np.savez(npz, **{k: np.concatenate([b[k] for b in batches]) for k in batches[0]})
    return res


def _write_batch(out: BinaryIO | None, ids: list[int], kept: list[str], dedup: DedupSettings | None
                 ) -> dict[str, np.ndarray]:
    """Write the kept lines as they go out; their keys, lengths, languages and line sizes."""
    langs = charclass.languages(*charclass.flags_many(kept)) if kept else []
    lines = [(json.dumps({"text": t, "lang": lang}, ensure_ascii=False) + "\n").encode() for t, lang in zip(kept, langs)]
    if out is not None:
        out.write(b"".join(lines))
    keys = (DocKeys.of(ids, kept, dedup) if dedup else
            DocKeys(np.array(ids, dtype=np.uint64), np.zeros((len(ids), 2), np.uint64), np.zeros((len(ids), 0), np.uint32)))
    return {"ids": np.array(ids, dtype=np.uint64), "exact": keys.exact.reshape(len(ids), 2), "sigs": keys.sigs,
            "chars": np.array([len(t) for t in kept], dtype=np.int64),
            "lang": np.array([LANGS.index(x) for x in langs], dtype=np.uint8),
            "nbytes": np.array([len(x) for x in lines], dtype=np.int64)}


def load_keys(parts: str | Path, index: int) -> DocKeys:
    with np.load(part_paths(parts, index)[1]) as z:
        return DocKeys(z["ids"], z["exact"], z["sigs"])
