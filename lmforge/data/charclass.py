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
    return table()[np.frombuffer(text.encode("utf-32-le", "surrogatepass"), dtype=np.uint32)]


def _count(flags: np.ndarray, bit: int) -> int:
    return int(np.count_nonzero(flags & bit))


def language(text: str, zh_threshold: float = 0.3) -> Language:
    """Exactly lmforge.text.language."""
    f = flags_of(text)
    letters, han, latin = _count(f, ALPHA), _count(f, HAN), _count(f, LATIN_)
    share = han / (han + latin) if han + latin else 0.0
    if share >= zh_threshold and _count(f, KANA_) * 10 < letters:
        return "zh"
    return "en" if letters and latin * 2 >= letters else "other"


def length_units(text: str) -> int:
    """Exactly lmforge.text.length_units: Han characters plus runs of other word characters."""
    f = flags_of(text)
    word = (f & WORD).astype(bool) & ~(f & HAN).astype(bool)
    starts = np.count_nonzero(word[1:] & ~word[:-1]) + bool(len(word) and word[0])
    return _count(f, HAN) + int(starts)


def symbol_share(text: str) -> float | None:
    """Share of non-space characters that are neither alphanumeric nor punctuation (None: no such characters)."""
    f = flags_of(text)
    total = len(f) - _count(f, SPACE)
    if not total:
        return None
    return int(np.count_nonzero((f & (SPACE | ALNUM | PUNCT)) == 0)) / total
