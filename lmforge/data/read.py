"""Stream documents from txt / jsonl / json / parquet files (optionally .gz or .zst), folders, globs."""

from __future__ import annotations

import glob
import gzip
import io
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Iterator, Literal

TEXT_SUFFIXES = (".txt", ".jsonl", ".json", ".parquet", ".md")
TxtMode = Literal["file", "paragraph", "line"]


class DataError(ValueError):
    """Bad input data; the message names the file (and line)."""


@dataclass
class ReadStats:
    documents: int = 0
    skipped: int = 0
    problems: list[str] = field(default_factory=list)  # first few "file:line: why"

    def skip(self, where: str, why: str, strict: bool) -> None:
        if strict:
            raise DataError(f"{where}: {why}")
        self.skipped += 1
        if len(self.problems) < 20:
            self.problems.append(f"{where}: {why}")


def expand(paths: Iterable[str | Path]) -> list[Path]:
    """Files named, globbed or inside folders (recursively), sorted; errors name what's empty."""
    out: list[Path] = []
    for p in paths:
        p = Path(p)
        if p.is_dir():
            # the clean/dedup report written beside its outputs is not a document file
            found = sorted(f for f in p.rglob("*")
                           if f.is_file() and _kind(f) is not None
                           and f.name not in ("report.json", "report.md"))
            if not found:
                raise DataError(f"{p}: folder has no readable data files ({', '.join(TEXT_SUFFIXES)}, "
                                "optionally .gz/.zst)")
            out += found
        elif p.is_file():
            out.append(p)
        else:
            matches = sorted(Path(m) for m in glob.glob(str(p), recursive=True) if Path(m).is_file())
            if not matches:
                raise DataError(f"{p}: no such file, folder or glob match")
            out += matches
    return out


def _kind(path: Path) -> str | None:
    name = path.name.lower()
    for comp in (".gz", ".zst"):
        if name.endswith(comp):
            name = name[: -len(comp)]
    return next((s for s in TEXT_SUFFIXES if name.endswith(s)), None)


def _open_text(path: Path) -> io.TextIOBase:
    name = path.name.lower()
    if name.endswith(".gz"):
        raw = gzip.open(path, "rb")
    elif name.endswith(".zst"):
        import zstandard

        raw = zstandard.ZstdDecompressor().stream_reader(open(path, "rb"))
    else:
        raw = open(path, "rb")
    return io.TextIOWrapper(raw, encoding="utf-8", errors="strict", newline="")


def read_documents(paths: Iterable[str | Path], text_field: str = "text", txt_mode: TxtMode = "file",
                   strict: bool = False, stats: ReadStats | None = None) -> Iterator[str]:
    """Yield each document's text; malformed records are skipped and counted (or raise if strict)."""
    stats = stats if stats is not None else ReadStats()
    for path in expand(paths):
        kind = _kind(path)
        if kind is None:
            raise DataError(f"{path}: unknown file type (expected {', '.join(TEXT_SUFFIXES)})")
        try:
            if kind == ".parquet":
                yield from _parquet(path, text_field, stats)
            elif kind in (".jsonl", ".json"):
                yield from _jsonl(path, text_field, strict, stats, array=kind == ".json")
            else:
                yield from _txt(path, txt_mode, stats)
        except UnicodeDecodeError as e:
            stats.skip(str(path), f"invalid UTF-8 at byte {e.start} (rest of file skipped)", strict)
        except (EOFError, OSError) as e:
            stats.skip(str(path), f"truncated or unreadable compressed file ({e})", strict)


def documents_by_source(paths: Iterable[str | Path], text_field: str = "text", txt_mode: TxtMode = "file",
                        strict: bool = False) -> dict[str, Iterator[str]]:
    """{source: documents}, a source being a file name up to its first dot (`zh.jsonl.gz` -> zh)."""
    by_source: dict[str, list[Path]] = {}
    for f in expand(paths):
        by_source.setdefault(f.name.split(".")[0], []).append(f)
    return {name: read_documents(fs, text_field, txt_mode, strict, ReadStats())
            for name, fs in by_source.items()}


def _txt(path: Path, mode: TxtMode, stats: ReadStats) -> Iterator[str]:
    with _open_text(path) as f:
        if mode == "file":
            text = f.read()
            if text.strip():
                stats.documents += 1
                yield text
            return
        buf: list[str] = []
        for line in f:
            if mode == "line":
                if line.strip():
                    stats.documents += 1
                    yield line.rstrip("\n")
            elif line.strip():
                buf.append(line)
            elif buf:
                stats.documents += 1
                yield "".join(buf).rstrip("\n")
                buf = []
        if buf:
            stats.documents += 1
            yield "".join(buf).rstrip("\n")


def _jsonl(path: Path, text_field: str, strict: bool, stats: ReadStats, array: bool) -> Iterator[str]:
    with _open_text(path) as f:
        if array:  # a .json file holding a list of records
            try:
                records = list(enumerate(json.load(f), 1))
            except json.JSONDecodeError as e:
                raise DataError(f"{path}:{e.lineno}: invalid JSON ({e.msg})") from None
        else:
            records = _json_lines(f, path, strict, stats)
        for lineno, rec in records:
            where = f"{path}:{lineno}" if not array else f"{path}[{lineno - 1}]"
            if not isinstance(rec, dict) or text_field not in rec:
                stats.skip(where, f"no {text_field!r} field", strict)
                continue
            if not isinstance(rec[text_field], str):
                stats.skip(where, f"{text_field!r} is not a string", strict)
                continue
            stats.documents += 1
            yield rec[text_field]


def _json_lines(f, path: Path, strict: bool, stats: ReadStats):
    for lineno, line in enumerate(f, 1):
        if not line.strip():
            continue
        try:
            yield lineno, json.loads(line)
        except json.JSONDecodeError as e:
            stats.skip(f"{path}:{lineno}", f"invalid JSON ({e.msg})", strict)


def _parquet(path: Path, text_field: str, stats: ReadStats) -> Iterator[str]:
    import pyarrow.parquet as pq

    pf = pq.ParquetFile(path)
    if text_field not in pf.schema_arrow.names:
        raise DataError(f"{path}: parquet has no column {text_field!r} (columns: "
                        f"{', '.join(pf.schema_arrow.names)}); pass --field")
    for batch in pf.iter_batches(columns=[text_field], batch_size=4096):
        for text in batch.column(0).to_pylist():
            if isinstance(text, str):
                stats.documents += 1
                yield text
            else:
                stats.skipped += 1
