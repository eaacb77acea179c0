"""Pack documents into token shards: flat uint16/uint32 files + manifest.json, EOS after each doc."""

from __future__ import annotations

import hashlib
import json
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Iterable, Iterator

import numpy as np
from tqdm import tqdm

from lmforge.errors import UserError
from lmforge.files import atomic_dir
from lmforge.text import read_json
from lmforge.tokenizer import Tokenizer

MANIFEST = "manifest.json"


def token_dtype(vocab_size: int) -> np.dtype:
    return np.dtype(np.uint16) if vocab_size <= 65536 else np.dtype(np.uint32)


def tokenizer_hash(tok: Tokenizer) -> str:
    return hashlib.sha256(tok.tok.to_str().encode()).hexdigest()[:16]


def is_val(text: str, val_fraction: float) -> bool:
    """A document's split, fixed by its content (stable across runs and workers)."""
    h = int.from_bytes(hashlib.blake2b(text.encode(), digest_size=8).digest(), "little")
    return (h % 1_000_000) < val_fraction * 1_000_000


def _batched(docs: Iterable[str], n: int) -> Iterator[list[str]]:
    batch: list[str] = []
    for d in docs:
        batch.append(d)
        if len(batch) == n:
            yield batch
            batch = []
    if batch:
        yield batch


def _in_order(pool: ThreadPoolExecutor, fn, items: Iterable, window: int) -> Iterator[tuple]:
    """(item, fn(item)) in input order with at most `window` items in flight (streams its input)."""
    pending: deque = deque()
    for item in items:
        pending.append((item, pool.submit(fn, item)))
        if len(pending) >= window:
            item0, fut = pending.popleft()
            yield item0, fut.result()
    while pending:
        item0, fut = pending.popleft()
        yield item0, fut.result()


class _ShardWriter:
    def __init__(self, folder: Path, prefix: str, dtype: np.dtype, shard_tokens: int):
        self.folder, self.prefix, self.dtype, self.shard_tokens = folder, prefix, dtype, shard_tokens
        self.buf: list[np.ndarray] = []
        self.size = 0
        self.files: list[str] = []
        self.tokens = 0

    def add(self, ids: list[int]) -> None:
        self.buf.append(np.asarray(ids, dtype=self.dtype))
        self.size += len(ids)
        if self.size >= self.shard_tokens:
            self.flush()

    def flush(self) -> None:
        if not self.size:
            return
        name = f"{self.prefix}-{len(self.files):05d}.bin"
        np.concatenate(self.buf).tofile(self.folder / name)
        self.files.append(name)
        self.tokens += self.size
        self.buf, self.size = [], 0


def pack_texts(texts_by_source: dict[str, Iterable[str]], tokenizer: Tokenizer, out_dir: str | Path,
               val_fraction: float = 0.01, shard_tokens: int = 1 << 24, batch_docs: int = 512,
               min_val_docs: int = 1, workers: int = 1) -> Path:
    """Tokenize every source's documents into train/val shards under out_dir (atomically).

    `encode_batch` of the fast tokenizer releases the GIL and is itself multi-threaded; `workers`
    > 1 keeps that many batches in flight so reading/writing overlaps tokenizing. The first `min_val_docs` documents of a
    source go to validation when hashing would give it none.
    """
    eos = tokenizer.eos_id
    if eos is None:
        raise UserError("the tokenizer has no EOS token; packing appends EOS after each document")
    dtype = token_dtype(tokenizer.vocab_size)
    out_dir = Path(out_dir)
    sources: dict[str, Any] = {}
    pool = ThreadPoolExecutor(max(1, workers))
    with pool, atomic_dir(out_dir) as tmp:
        for source, docs in texts_by_source.items():
            if not source.replace("-", "").replace("_", "").isalnum():
                raise UserError(f"source name {source!r} must be alphanumeric (with - or _)")
            (tmp / source).mkdir()
            train = _ShardWriter(tmp / source, "train", dtype, shard_tokens)
            val = _ShardWriter(tmp / source, "val", dtype, shard_tokens)
            n_docs = {"train": 0, "val": 0}
            encoded = _in_order(pool, tokenizer.encode_batch, _batched(docs, batch_docs), 2 * workers)
            for batch, batch_ids in tqdm(encoded, desc=f"pack {source}", unit="batch", mininterval=2.0):
                for text, ids in zip(batch, batch_ids):
                    split = "val" if (is_val(text, val_fraction) or n_docs["val"] < min_val_docs
                                      and n_docs["train"] >= min_val_docs) else "train"
                    (val if split == "val" else train).add(ids + [eos])
                    n_docs[split] += 1
            train.flush()
            val.flush()
            if not train.tokens:
                files = ", ".join(map(str, getattr(docs, "paths", [])))  # data.read.Documents know their files
                raise UserError(f"{files + ': ' if files else ''}source {source!r} has no training documents "
                                f"({n_docs['val']} went to validation)")
            sources[source] = {"train": [f"{source}/{f}" for f in train.files],
                               "val": [f"{source}/{f}" for f in val.files],
                               "tokens": {"train": train.tokens, "val": val.tokens},
                               "documents": n_docs}
        manifest = {"format": "lmforge-tokens-v1", "dtype": dtype.name, "eos_id": eos,
                    "vocab_size": tokenizer.vocab_size, "tokenizer_hash": tokenizer_hash(tokenizer),
                    "sources": sources}
        (tmp / MANIFEST).write_text(json.dumps(manifest, indent=2))
    return out_dir


def read_manifest(folder: str | Path) -> dict[str, Any]:
    path = Path(folder) / MANIFEST
    if not path.is_file():
        raise UserError(f"{path}: not a packed data folder (run `lmforge data pack`)")
    return read_json(path, dict, "packed data manifest")


def _max_id(path: Path, dtype: str) -> int:
    """The largest token id in one shard file, remembered per (file, size, mtime)."""
    st = path.stat()
    key = (str(path.resolve()), st.st_size, st.st_mtime_ns)
    if key not in _MAX_IDS:
        arr = np.memmap(path, dtype=dtype, mode="r") if st.st_size else np.zeros(0, dtype=dtype)
        _MAX_IDS[key] = int(arr.max()) if len(arr) else -1
    return _MAX_IDS[key]


_MAX_IDS: dict[tuple[str, int, int], int] = {}


def check_shard(path: Path, dtype: str, vocab_size: int) -> None:
    """A shard holding ids past the vocabulary would fail mid-training (or train on garbage)."""
    top = _max_id(path, dtype)
    if top >= vocab_size:
        raise UserError(f"{path}: token id {top} is outside the vocabulary ({vocab_size} tokens, "
                        f"{path.parent.parent / MANIFEST}); the shard is corrupt or was packed with "
                        "another tokenizer: repack the data (`lmforge data pack`)")


def load_tokens(folder: str | Path, source: str, split: str) -> np.ndarray:
    """All tokens of one source's split, memory-mapped and concatenated lazily per shard; every
    shard's ids are checked against the manifest's vocabulary."""
    m = read_manifest(folder)
    if source not in m["sources"]:
        raise UserError(f"{folder}: no source {source!r}; sources: {', '.join(m['sources'])}")
    paths = [Path(folder) / f for f in m["sources"][source][split]]
    for path in paths:
        if not path.is_file():
            raise UserError(f"{path}: shard listed in {Path(folder) / MANIFEST} is missing")
        check_shard(path, m["dtype"], int(m["vocab_size"]))
    parts = [np.memmap(p, dtype=m["dtype"], mode="r") for p in paths]
    if not parts:
        return np.zeros(0, dtype=m["dtype"])
    return parts[0] if len(parts) == 1 else np.concatenate(parts)
