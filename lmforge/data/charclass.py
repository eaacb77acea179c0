"""Character classes of every code point as one lookup table, so the cleaner's per-character
measures (language, length units, symbol share) are a few numpy operations per document
instead of several regex scans and a Python loop. The table is built from the very regexes and
`str` methods that lmforge.text and the cleaner define, so the answers are the same (tested on
every code point's class and on real text).
"""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache
from typing import Callable

import numpy as np

from lmforge.text import CJK, KANA, LATIN, Language

ALPHA, ALNUM, SPACE, PUNCT, HAN, LATIN_, KANA_, WORD = (1 << i for i in range(8))
_WORD = re.compile(r"[^\W_]")  # lmforge.text's word character


# Code points that have any of these classes: planes 0-3 and the tags/variation selectors of
# plane 14. Planes 4-13 are unassigned and 15-16 private use (no class at all; the test checks
# this against unicodedata on a sample of them).
SPANS = ((0, 0x40000), (0xE0000, 0xE1000))


def _chars() -> str:
    return "".join(chr(c) for lo, hi in SPANS for c in range(lo, hi))


def _positions() -> np.ndarray:
    return np.concatenate([np.arange(lo, hi) for lo, hi in SPANS])


def _from_regex(pattern: re.Pattern, chars: str) -> np.ndarray:
    out = np.zeros(len(chars), dtype=bool)
    out[[m.start() for m in pattern.finditer(chars)]] = True
    return out


def _from_method(method: Callable[[str], bool], chars: str) -> np.ndarray:
    return np.fromiter(map(method, chars), dtype=bool, count=len(chars))


@lru_cache(maxsize=1)
def table() -> np.ndarray:
    """uint8 flags for each of the 0x110000 code points (built once per process, ~0.3 s)."""
    chars = _chars()
    flags = np.zeros(len(chars), dtype=np.uint8)
    parts = [(ALPHA, _from_method(str.isalpha, chars)), (ALNUM, _from_method(str.isalnum, chars)),
             (SPACE, _from_method(str.isspace, chars)),
             (PUNCT, _from_method(lambda c: unicodedata.category(c).startswith("P"), chars)),
             (HAN, _from_regex(CJK, chars)), (LATIN_, _from_regex(LATIN, chars)),
             (KANA_, _from_regex(KANA, chars)), (WORD, _from_regex(_WORD, chars))]
    for bit, mask in parts:
        flags[mask] |= bit
    full = np.zeros(0x110000, dtype=np.uint8)
    full[_positions()] = flags
    return full


def flags_of(text: str) -> np.ndarray:
    """The class flags of each character of `text`."""
    return flags_many([text])[0]


def flags_many(texts: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """(flags, bounds): the class flags of several texts at once; text i's characters are
    flags[bounds[i]:bounds[i + 1]]. One lookup for a whole batch of documents."""
    codes, bounds = codes_many(texts)
    return table()[codes], bounds


def codes_many(texts: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """(code points, bounds) of several texts joined; text i is codes[bounds[i]:bounds[i + 1]]."""
    bounds = np.zeros(len(texts) + 1, dtype=np.int64)
    np.cumsum(np.fromiter(map(len, texts), dtype=np.int64, count=len(texts)), out=bounds[1:])
    return np.frombuffer("".join(texts).encode("utf-32-le", "surrogatepass"), dtype=np.uint32), bounds


def per_text(mask: np.ndarray, bounds: np.ndarray) -> np.ndarray:
    """How many True values of `mask` fall in each text (empty texts included)."""
    return np.diff(np.searchsorted(np.flatnonzero(mask), bounds))  # (a cumsum of bools is 10x slower)


def _has(flags: np.ndarray, bits: int) -> np.ndarray:
    return (flags & bits) != 0


def language(text: str, zh_threshold: float = 0.3) -> Language:
    """Exactly lmforge.text.language."""
    return languages(*flags_many([text]), zh_threshold)[0]


def languages(flags: np.ndarray, bounds: np.ndarray, zh_threshold: float = 0.3) -> list[Language]:
    """lmforge.text.language of each text of a batch (`flags_many`)."""
    letters, han, latin, kana = (per_text(_has(flags, b), bounds) for b in (ALPHA, HAN, LATIN_, KANA_))
    scripts = han + latin
    share = np.divide(han, scripts, out=np.zeros(len(han)), where=scripts > 0)
    zh = (share >= zh_threshold) & (kana * 10 < letters)
    en = (letters > 0) & (latin * 2 >= letters)
    return np.where(zh, "zh", np.where(en, "en", "other")).tolist()


def length_units(text: str) -> int:
    """Exactly lmforge.text.length_units: Han characters plus runs of other word characters."""
    return int(length_units_many(*flags_many([text]))[0])


def length_units_many(flags: np.ndarray, bounds: np.ndarray) -> np.ndarray:
    """length_units of each text of a batch: a run of word characters starts where the character
    before it (in the same text) is not one."""
    word = _has(flags, WORD) & ~_has(flags, HAN)
    before = np.zeros(len(word), dtype=bool)
    before[1:] = word[:-1]
    before[bounds[:-1][bounds[:-1] < len(word)]] = False
    return per_text(_has(flags, HAN), bounds) + per_text(word & ~before, bounds)


def symbol_share(text: str) -> float | None:
    """Share of non-space characters that are neither alphanumeric nor punctuation (None: no such characters)."""
    share = symbol_shares(*flags_many([text]))[0]
    return None if np.isnan(share) else float(share)


def symbol_shares(flags: np.ndarray, bounds: np.ndarray) -> np.ndarray:
    """symbol_share of each text of a batch (NaN where a text has only whitespace)."""
    total = np.diff(bounds) - per_text(_has(flags, SPACE), bounds)
    symbols = per_text((flags & (SPACE | ALNUM | PUNCT)) == 0, bounds)
    return np.divide(symbols, total, out=np.full(len(total), np.nan), where=total > 0)
