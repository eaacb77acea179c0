"""Stream documents from txt / jsonl / json / parquet files (optionally .gz or .zst), folders, globs.

Nothing is dropped without a count: a malformed record (bad UTF-8 or NUL bytes, invalid JSON, a
truncated last line, a missing or non-string text field) is skipped and counted in the
documents' `stats`, with the first few `file:line: why`, and a warning is printed when reading
ends; `strict` raises a DataError naming file:line instead. A bad byte loses its record, not
its file. A corrupt or truncated .gz/.zst is a DataError naming the file and line.
"""

from __future__ import annotations

import glob
import gzip
import io
from collections import Counter
from pathlib import Path
from typing import BinaryIO, Iterable, Iterator, Literal, get_args

import zstandard

from lmforge.text import (READ_ERRORS, DataError, Language, ReadStats, iter_jsonl, language, open_binary,
                          parse_json_bytes, read_lines)

__all__ = ["DataError", "Documents", "ReadStats", "documents_by_language", "documents_by_source", "expand",
           "read_documents"]

TEXT_SUFFIXES = (".txt", ".jsonl", ".json", ".parquet", ".md")
TxtMode = Literal["auto", "file", "paragraph", "line"]
TXT_MODE_HELP = ("a .txt file is split into blank-line paragraphs when it has them, else one document per "
                 "line (auto); or one document per file, per paragraph, or per line")
_ERRORS = READ_ERRORS + (zstandard.ZstdError,)


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


def _open(path: Path) -> BinaryIO:
    """The file's bytes, decompressed for .gz and .zst."""
    raw = open_binary(path)
    name = path.name.lower()
    if name.endswith(".gz"):
        return gzip.GzipFile(fileobj=raw, mode="rb")  # type: ignore[return-value]
    if name.endswith(".zst"):
        return io.BufferedReader(zstandard.ZstdDecompressor().stream_reader(raw, closefd=True))
    return raw


class Documents:
    """The text of each document in some files, read lazily; `stats` counts the documents read
    and the records skipped (with reasons). A warning names the skips when reading ends."""

    def __init__(self, paths: Iterable[str | Path], text_field: str = "text", txt_mode: TxtMode = "file",
                 strict: bool = False, stats: ReadStats | None = None, name: str | None = None,
                 language: Language | None = None) -> None:
        self.paths, self.text_field, self.txt_mode, self.strict = list(paths), text_field, txt_mode, strict
        self.stats = stats if stats is not None else ReadStats()
        self.name, self.language = name, language

    def __iter__(self) -> Iterator[str]:
        if self.language is None:
            yield from self._read()
            self.stats.warn(self.name or ", ".join(map(str, self.paths)))
            return
        # one language's documents: the pass that found the languages counted the skips
        every = Documents(self.paths, self.text_field, self.txt_mode, self.strict)
        for text in every._read():
            if language(text) == self.language:
                self.stats.records += 1
                yield text

    def _read(self) -> Iterator[str]:
        for path in expand(self.paths):
            yield from self._file(path)

    def _file(self, path: Path) -> Iterator[str]:
        kind = _kind(path)
        if kind is None:
            raise DataError(f"{path}: unknown file type (expected {', '.join(TEXT_SUFFIXES)})")
        if kind == ".parquet":
            return _parquet(path, self.text_field, self.stats, self.strict)
        if kind == ".json":
            return _json(path, self.text_field, self.stats, self.strict)
        if kind == ".jsonl":
            return (rec[self.text_field] for _, rec in iter_jsonl(
                path, self.stats, self.strict, {self.text_field: str}, _open, _ERRORS))
        return _txt(path, self.txt_mode, self.stats, self.strict)


def read_documents(paths: Iterable[str | Path], text_field: str = "text", txt_mode: TxtMode = "file",
                   strict: bool = False, stats: ReadStats | None = None) -> Documents:
    """Each document's text; malformed records are skipped and counted (or raise if strict)."""
    return Documents(paths, text_field, txt_mode, strict, stats)


def documents_by_source(paths: Iterable[str | Path], text_field: str = "text", txt_mode: TxtMode = "file",
                        strict: bool = False) -> dict[str, Documents]:
    """{source: documents}, a source being a file name up to its first dot (`zh.jsonl.gz` -> zh)."""
    by_source: dict[str, list[Path]] = {}
    for f in expand(paths):
        by_source.setdefault(f.name.split(".")[0], []).append(f)
    return {name: Documents(fs, text_field, txt_mode, strict, name=name) for name, fs in by_source.items()}


def _paragraphs(lines: Iterable[tuple[str | None, bool]]) -> Iterator[list[tuple[str | None, bool]]]:
    """The blank-line-separated runs of lines (an undecodable None line is not blank)."""
    buf: list[tuple[str | None, bool]] = []
    for text, _ in lines:
        if text is None or text.strip():
            buf.append((text, False))
        elif buf:
            yield buf
            buf = []
    if buf:
        yield buf


def documents_by_language(paths: Iterable[str | Path], text_field: str = "text", txt_mode: TxtMode = "auto",
                          strict: bool = False) -> dict[str, Documents]:
    """{language: documents} for the languages present (en, zh, other; see lmforge.text.language),
    whatever files they are in. A first pass finds the languages and counts the malformed
    records (reported with the first source); each source then reads the inputs again."""
    paths = list(paths)
    probe = Documents(paths, text_field, txt_mode, strict, name=", ".join(map(str, paths)))
    found = Counter(language(text) for text in probe)
    present = [lang for lang in get_args(Language) if found[lang]]
    if not present:
        raise DataError(f"{', '.join(map(str, paths))}: no documents to split by language")
    skips = ReadStats(skipped=probe.stats.skipped, reasons=probe.stats.reasons, problems=probe.stats.problems)
    return {lang: Documents(paths, text_field, txt_mode, strict, skips if i == 0 else ReadStats(), lang, lang)
            for i, lang in enumerate(present)}


def _txt_units(path: Path, mode: TxtMode, stats: ReadStats, strict: bool
               ) -> Iterator[list[tuple[str | None, bool]]]:
    """The (line, ended by a newline) of each document; a None line was undecodable (counted).
    `auto`: paragraphs when the file has at least two, else one document per line."""
    lines = ((text, ended) for _, text, ended in read_lines(path, stats, strict, _open, _ERRORS))
    if mode == "file":
        yield list(lines)
        return
    if mode == "line":
        yield from ([(text, False)] for text, _ in lines)
        return
    paragraphs = _paragraphs(lines)
    if mode == "paragraph":
        yield from paragraphs
        return
    first, second = next(paragraphs, None), next(paragraphs, None)
    if second is None:  # no blank-line paragraphs: one document per line
        yield from ([line] for line in first or [])
        return
    yield first  # type: ignore[misc]
    yield second
    yield from paragraphs


def _txt(path: Path, mode: TxtMode, stats: ReadStats, strict: bool) -> Iterator[str]:
    """A .txt file as one document (as it is on disk), one per blank-line paragraph, or one per
    line; a document with an undecodable line is dropped (that line was counted as its skip)."""
    for unit in _txt_units(path, mode, stats, strict):
        if any(text is None for text, _ in unit):
            continue
        text = "\n".join(t for t, _ in unit) + ("\n" if unit and unit[-1][1] else "")  # type: ignore[misc]
        if text.strip():
            stats.records += 1
            yield text


def _json(path: Path, text_field: str, stats: ReadStats, strict: bool) -> Iterator[str]:
    """A .json file holding a list of records (or one record)."""
    try:
        with _open(path) as f:
            raw = f.read()
    except _ERRORS as e:
        raise DataError(f"{path}: the file is corrupt or truncated ({e or type(e).__name__})") from None
    value = parse_json_bytes(raw, str(path), "data file", (list, dict))
    records = enumerate(value if isinstance(value, list) else [value])
    for i, rec in records:
        where = f"{path}[{i}]"
        if not isinstance(rec, dict) or text_field not in rec:
            stats.skip(where, f"missing field {text_field!r}", strict)
        elif not isinstance(rec[text_field], str):
            stats.skip(where, f"field {text_field!r} is not a string", strict)
        else:
            stats.records += 1
            yield rec[text_field]


def _parquet(path: Path, text_field: str, stats: ReadStats, strict: bool) -> Iterator[str]:
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        pf = pq.ParquetFile(path)
        if text_field not in pf.schema_arrow.names:
            raise DataError(f"{path}: parquet has no column {text_field!r} (columns: "
                            f"{', '.join(pf.schema_arrow.names)}); pass --field")
        row = 0
        for batch in pf.iter_batches(columns=[text_field], batch_size=4096):
            for text in batch.column(0).to_pylist():
                if isinstance(text, str):
                    stats.records += 1
                    yield text
                else:
                    stats.skip(f"{path}: row {row}", f"field {text_field!r} is not a string", strict)
                row += 1
    except (pa.ArrowException, OSError) as e:
        raise DataError(f"{path}: unreadable parquet file ({e})") from None
