"""Inputs named by URL, read through fsspec as streams: `hf://datasets/<org>/<name>/...` (parquet on
the Hugging Face hub, needs `huggingface_hub`), `s3://...` (needs `s3fs`), `file://`, `memory://`.

Parquet is read by record batch over the stream, jsonl line by line (.gz/.zst decompressed on
the fly), so nothing is downloaded whole. Malformed records are counted like local ones.
"""

from __future__ import annotations

from typing import Iterator

import fsspec
import pyarrow as pa
import pyarrow.parquet as pq

from lmforge.text import DataError, ReadStats, check_fields, parse_json_line

SUFFIXES = (".jsonl", ".parquet", ".txt", ".md")


def is_url(path: object) -> bool:
    return "://" in str(path)


def _kind(url: str) -> str | None:
    name = url.lower().removesuffix(".gz").removesuffix(".zst")
    return next((s for s in SUFFIXES if name.endswith(s)), None)


def expand_url(url: str) -> list[str]:
    """The data files a URL names: the file, the files a glob matches, or a folder's files."""
    try:
        fs, path = fsspec.core.url_to_fs(url)
        if fs.isdir(path):
            found = [f for f in fs.find(path) if _kind(f)]
        else:
            found = fs.glob(path) if any(c in path for c in "*?[") else ([path] if fs.exists(path) else [])
    except (ImportError, ValueError) as e:
        raise DataError(f"{url}: cannot open ({e})") from None
    if not found:
        raise DataError(f"{url}: no such file, folder or glob match")
    return [fs.unstrip_protocol(f) for f in sorted(found)]


def _jsonl(url: str, field: str, stats: ReadStats, strict: bool) -> Iterator[str]:
    with fsspec.open(url, "rb", compression="infer") as f:
        for lineno, raw in enumerate(f, 1):
            where = f"{url}:{lineno}"
            try:
                text = raw.decode("utf-8")
            except UnicodeDecodeError:
                stats.skip(where, "invalid UTF-8", strict)
                continue
            if not text.strip():
                continue
            rec, why, detail = parse_json_line(text)
            why = why or check_fields(rec, {field: str})
            if why is not None:
                stats.skip(where, why, strict, detail)
                continue
            stats.records += 1
            yield rec[field]


def _parquet(url: str, field: str, stats: ReadStats, strict: bool) -> Iterator[str]:
    try:
        with fsspec.open(url, "rb") as f:
            pf = pq.ParquetFile(f)
            if field not in pf.schema_arrow.names:
                raise DataError(f"{url}: parquet has no column {field!r} (columns: "
                                f"{', '.join(pf.schema_arrow.names)}); pass --field")
            for b, batch in enumerate(pf.iter_batches(columns=[field], batch_size=4096)):
                for i, text in enumerate(batch.column(0).to_pylist()):
                    if isinstance(text, str):
                        stats.records += 1
                        yield text
                    else:
                        stats.skip(f"{url}: batch {b} row {i}", f"field {field!r} is not a string", strict)
    except (pa.ArrowException, OSError) as e:
        raise DataError(f"{url}: unreadable parquet file ({e})") from None


class RemoteDocuments:
    """The text of each document in some URLs, streamed; `stats` counts records and skips."""

    def __init__(self, urls: list[str], field: str = "text", strict: bool = False, name: str | None = None):
        self.urls, self.field, self.strict, self.name = urls, field, strict, name
        self.stats = ReadStats()

    def __iter__(self) -> Iterator[str]:
        for url in self.urls:
            kind = _kind(url)
            if kind == ".parquet":
                yield from _parquet(url, self.field, self.stats, self.strict)
            elif kind == ".jsonl":
                yield from _jsonl(url, self.field, self.stats, self.strict)
            elif kind is not None:
                with fsspec.open(url, "rt", encoding="utf-8", compression="infer") as f:
                    self.stats.records += 1
                    yield f.read()
            else:
                raise DataError(f"{url}: unknown file type (expected {', '.join(SUFFIXES)})")
        self.stats.warn(self.name or ", ".join(self.urls))


def remote_by_source(urls: list[str], field: str = "text", strict: bool = False) -> dict[str, RemoteDocuments]:
    """{source: documents}, a source being a file name up to its first dot, as for local files."""
    by: dict[str, list[str]] = {}
    for url in urls:
        for f in expand_url(url):
            by.setdefault(f.rstrip("/").rsplit("/", 1)[-1].split(".")[0], []).append(f)
    return {name: RemoteDocuments(fs, field, strict, name) for name, fs in by.items()}
