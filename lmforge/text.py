"""The bilingual text core: CJK characters, language id, CJK-aware normalization, and reading
JSONL/JSON with `file:line` for every problem and a count of every record skipped.

Everything in lmforge that asks "is this Chinese?" or reads a .jsonl file comes here, so one
record gets one answer everywhere (the cleaner, the tokenizer stats, the SFT language filter).
"""

from __future__ import annotations

import json
import re
import sys
import unicodedata
import zlib
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO, Callable, Iterator, Literal, Mapping

from lmforge.errors import UserError

# ---- CJK characters ---------------------------------------------------------------------------
# Han ideographs, the characters Chinese is written with (one code point each in a Python str):
CJK_RANGES: tuple[tuple[int, int], ...] = (
    (0x3400, 0x4DBF),    # CJK Unified Ideographs Extension A
    (0x4E00, 0x9FFF),    # CJK Unified Ideographs
    (0xF900, 0xFAFF),    # CJK Compatibility Ideographs
    (0x20000, 0x3FFFF),  # planes 2 and 3 (SIP, TIP): Extensions B-I, Compatibility Supplement
)
# Not included: radicals, strokes, CJK punctuation, kana, hangul, bopomofo (not Han characters).
# The class is written with the characters themselves (no escapes), so the same string works in
# Python's `re` and in the tokenizers library's Oniguruma regexes (tokenizer pre-splitting).
CJK_CLASS = "[" + "".join(f"{chr(lo)}-{chr(hi)}" for lo, hi in CJK_RANGES) + "]"
CJK = re.compile(CJK_CLASS)
LATIN = re.compile(r"[A-Za-z\u00c0-\u024f]")
KANA = re.compile(r"[\u3040-\u30ff\u31f0-\u31ff\uff66-\uff9f]")
_WORD = re.compile(r"[^\W_]+")

Language = Literal["zh", "en", "other"]


def is_cjk(ch: str) -> bool:
    """True for one Han ideograph (any of CJK_RANGES)."""
    code = ord(ch)
    return any(lo <= code <= hi for lo, hi in CJK_RANGES)


def count_cjk(text: str) -> int:
    return len(CJK.findall(text))


def has_cjk(text: str) -> bool:
    return CJK.search(text) is not None


def cjk_share(text: str) -> float:
    """Han characters as a share of Han characters plus Latin letters (0 when there are none)."""
    cjk, latin = count_cjk(text), len(LATIN.findall(text))
    return cjk / (cjk + latin) if cjk + latin else 0.0


def language(text: str, zh_threshold: float = 0.3) -> Language:
    """The one language id: 'zh' when Han characters are at least `zh_threshold` of the Han
    characters plus Latin letters (and the text is not Japanese: kana under 10% of its letters),
    'en' when Latin letters are at least half of all letters, else 'other' (Cyrillic, Arabic,
    Japanese, Korean, no letters at all)."""
    letters = sum(map(str.isalpha, text))
    if cjk_share(text) >= zh_threshold and len(KANA.findall(text)) * 10 < letters:
        return "zh"
    return "en" if letters and len(LATIN.findall(text)) * 2 >= letters else "other"


def length_units(text: str) -> int:
    """Han characters plus words of any other script: a length that means the same in Chinese
    and English (and does not call a Cyrillic or Greek document empty)."""
    return count_cjk(text) + len(_WORD.findall(CJK.sub(" ", text)))


# ---- normalization ------------------------------------------------------------------------------
# Full-width punctuation of Chinese typography (GB/T 15834) that NFKC would turn into ASCII
# (，-> ,  ！-> !  （-> ( ...). Kept as written; 、。「」『』《》【】“” are not touched by NFKC
# anyway. Full-width letters and digits (Ａ１) and other compatibility forms are still folded.
CJK_PUNCTUATION = "！（），：；？［］｛｝～"
_KEEP = re.compile("([" + re.escape(CJK_PUNCTUATION) + "])")


def normalize(text: str, form: str = "NFKC", keep_cjk_punctuation: bool = True) -> str:
    """Unicode normalization for Chinese + English text: `form` (NFKC by default) everywhere
    except the full-width Chinese punctuation in CJK_PUNCTUATION, which NFKC would rewrite."""
    if unicodedata.is_normalized(form, text):
        return text
    if not (keep_cjk_punctuation and form.startswith("NFK") and _KEEP.search(text)):
        return unicodedata.normalize(form, text)
    pieces = _KEEP.split(text)  # text, kept mark, text, kept mark, ..., text
    pieces[::2] = [unicodedata.normalize(form, p) for p in pieces[::2]]
    return "".join(pieces)


# ---- reading records with file:line -------------------------------------------------------------
class DataError(UserError):
    """Bad input data; the message names the file (and line)."""


SHOWN = 5  # problems shown in a warning; ReadStats keeps MAX_PROBLEMS for reports
MAX_PROBLEMS = 20
BOM = b"\xef\xbb\xbf"


@dataclass
class ReadStats:
    """Records read and skipped, the count per reason, and the first `file:line: why`."""

    records: int = 0
    skipped: int = 0
    reasons: Counter = field(default_factory=Counter)
    problems: list[str] = field(default_factory=list)

    def skip(self, where: str, why: str, strict: bool = False, detail: str = "") -> None:
        """Count one skipped record (or raise a DataError naming it when `strict`)."""
        message = f"{where}: {why}" + (f" ({detail})" if detail else "")
        if strict:
            raise DataError(message)
        self.skipped += 1
        self.reasons[why] += 1
        if len(self.problems) < MAX_PROBLEMS:
            self.problems.append(message)

    def summary(self) -> dict[str, Any]:
        """For a stage's report: counts, reasons and the first few `file:line: why`."""
        return {"records": self.records, "skipped": self.skipped,
                "skip_reasons": dict(self.reasons), "first_skipped": self.problems[:SHOWN]}

    def message(self, what: str = "input") -> str | None:
        """One warning naming the count, the reasons and the first few places; None if none."""
        if not self.skipped:
            return None
        reasons = ", ".join(f"{why}: {n}" for why, n in self.reasons.most_common())
        lines = [f"{what}: skipped {self.skipped} malformed record(s) of {self.records + self.skipped} "
                 f"({reasons})"] + [f"  {p}" for p in self.problems[:SHOWN]]
        return "\n".join(lines)

    def warn(self, what: str = "input") -> None:
        msg = self.message(what)
        if msg:
            print(msg, file=sys.stderr)


Opener = Callable[[Path], BinaryIO]
# What reading a (compressed) file can raise past its first line: a truncated or corrupt stream.
READ_ERRORS: tuple[type[BaseException], ...] = (OSError, EOFError, zlib.error)


def open_binary(path: Path) -> BinaryIO:
    try:
        return open(path, "rb")
    except OSError as e:
        raise DataError(f"{path}: cannot read ({e.strerror or e})") from None


def _raw_lines(f: BinaryIO, path: Path, errors: tuple[type[BaseException], ...]) -> Iterator[bytes]:
    lineno = 0
    try:
        for lineno, raw in enumerate(f, 1):
            yield raw
    except errors as e:
        raise DataError(f"{path}:{lineno + 1}: cannot read past line {lineno}: the file is corrupt or "
                        f"truncated ({e or type(e).__name__})") from None


def read_lines(path: str | Path, stats: ReadStats, strict: bool = False, opener: Opener = open_binary,
               errors: tuple[type[BaseException], ...] = READ_ERRORS
               ) -> Iterator[tuple[int, str | None, bool]]:
    """(line number, text without its newline, ended by a newline) for each line, decoded one
    line at a time: a UTF-8 BOM is dropped; a line with a bad UTF-8 byte or a NUL byte is counted
    in `stats` and yielded with text None, so it loses its record only. Blank lines are yielded
    (paragraph readers need them). A stream that breaks off (`errors`) is a DataError naming
    file:line."""
    path = Path(path)
    with opener(path) as f:
        for lineno, raw in enumerate(_raw_lines(f, path, errors), 1):
            if lineno == 1 and raw.startswith(BOM):
                raw = raw[len(BOM):]
            try:
                text = raw.decode("utf-8")
            except UnicodeDecodeError as e:
                stats.skip(f"{path}:{lineno}", "invalid UTF-8", strict,
                           f"byte 0x{raw[e.start]:02x} at column {e.start + 1}; is the file UTF-8?")
                yield lineno, None, True
                continue
            if "\x00" in text:
                stats.skip(f"{path}:{lineno}", "NUL byte", strict, "binary or UTF-16 data?")
                yield lineno, None, True
                continue
            ended = text.endswith("\n")
            yield lineno, text[:-1] if ended else text, ended


def _type_name(value: Any) -> str:
    return "null" if value is None else {dict: "object", list: "array", str: "string",
                                          bool: "boolean"}.get(type(value), type(value).__name__)


def check_fields(rec: Any, fields: Mapping[str, type | tuple[type, ...]]) -> str | None:
    """Why `rec` is not an object with each field of the given type, or None."""
    if not isinstance(rec, dict):
        return f"expected a JSON object, got {_type_name(rec)}"
    for name, kind in fields.items():
        if name not in rec:
            return f"missing field {name!r}"
        if not isinstance(rec[name], kind) or (kind in (int, float) and isinstance(rec[name], bool)):
            return f"field {name!r} is {_type_name(rec[name])}"
    return None


def parse_json_line(text: str) -> tuple[Any, str | None, str]:
    """(value, None, ""), or (None, why, detail) for text that is not one JSON value."""
    try:
        return json.loads(text), None, ""
    except RecursionError:
        return None, "JSON nested too deeply", ""
    except json.JSONDecodeError as e:
        return None, "invalid JSON", f"{e.msg} at column {e.colno}"
    except ValueError as e:  # e.g. an integer with more digits than Python converts
        return None, "invalid JSON", str(e)


def iter_jsonl(path: str | Path, stats: ReadStats | None = None, strict: bool = False,
               fields: Mapping[str, type | tuple[type, ...]] | None = None, opener: Opener = open_binary,
               errors: tuple[type[BaseException], ...] = READ_ERRORS) -> Iterator[tuple[str, dict[str, Any]]]:
    """(`file:line`, record) for each JSON object line; malformed lines (bad UTF-8, NUL bytes,
    invalid JSON, a truncated last line, not an object, a missing or wrongly typed field from
    `fields`) are skipped and counted in `stats`, or raise a DataError naming file:line if strict."""
    stats = stats if stats is not None else ReadStats()
    for lineno, text, ended in read_lines(path, stats, strict, opener, errors):
        if text is None or not text.strip():
            continue
        where = f"{path}:{lineno}"
        rec, why, detail = parse_json_line(text)
        if why is not None:
            if ended:
                stats.skip(where, why, strict, detail)
            else:
                stats.skip(where, "truncated last line", strict, f"no newline at the end; {why}: {detail}")
            continue
        why = check_fields(rec, fields or {})
        if why is not None:
            stats.skip(where, why, strict)
            continue
        stats.records += 1
        yield where, rec


def read_jsonl(path: str | Path, strict: bool = True, stats: ReadStats | None = None,
               fields: Mapping[str, type | tuple[type, ...]] | None = None,
               where_key: str | None = None) -> list[dict[str, Any]]:
    """All JSON object records of a .jsonl file. Strict (the default) raises a DataError naming
    `file:line` at the first malformed line; otherwise malformed lines are counted in `stats`
    (or, when no `stats` is given, counted and printed as one warning). `where_key` adds each
    record's `file:line` under that key."""
    own = stats is None
    stats = ReadStats() if own else stats
    rows = [({**rec, where_key: where} if where_key else rec)
            for where, rec in iter_jsonl(path, stats, strict, fields)]
    if own:
        stats.warn(str(path))
    return rows


def parse_json_bytes(raw: bytes, where: str, what: str = "JSON file",
                     expect: type | tuple[type, ...] | None = None) -> Any:
    """One JSON value from a file's bytes (a UTF-8 BOM is allowed); errors name `where`, the
    line and the column."""
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        line = raw[:e.start].count(b"\n") + 1
        raise DataError(f"{where}:{line}: invalid UTF-8 in {what} (byte 0x{raw[e.start]:02x}); "
                        "is the file UTF-8?") from None
    try:
        value = json.loads(text)
    except json.JSONDecodeError as e:
        raise DataError(f"{where}:{e.lineno}:{e.colno}: invalid JSON in {what} ({e.msg})") from None
    except RecursionError:
        raise DataError(f"{where}: invalid JSON in {what} (nested too deeply)") from None
    except ValueError as e:
        raise DataError(f"{where}: invalid JSON in {what} ({e})") from None
    if expect is not None and not isinstance(value, expect):
        kinds = expect if isinstance(expect, tuple) else (expect,)
        raise DataError(f"{where}: {what} must hold a JSON {' or '.join(_type_name(k()) for k in kinds)}, "
                        f"got {_type_name(value)}")
    return value


def read_json(path: str | Path, expect: type | tuple[type, ...] | None = None, what: str = "JSON file") -> Any:
    """A whole JSON file; a missing file, bad UTF-8, invalid JSON or (with `expect`) a value of
    another type is a DataError naming the file, line and column."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: {what} not found")
    with open_binary(path) as f:
        return parse_json_bytes(f.read(), str(path), what, expect)
