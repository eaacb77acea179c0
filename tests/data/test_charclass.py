"""The lookup-table character classes give exactly lmforge.text's answers (they replace them in
the cleaner's hot loop)."""

from __future__ import annotations

import random
import unicodedata

from lmforge import text
from lmforge.data import charclass


def _old_symbol_share(s: str) -> float | None:
    chars = [c for c in s if not c.isspace()]
    if not chars:
        return None
    return sum(1 for c in chars if not (c.isalnum() or unicodedata.category(c).startswith("P"))) / len(chars)


def _samples(real_docs) -> list[str]:
    rng = random.Random(0)
    planes = [lambda: rng.randrange(0x110000), lambda: rng.randrange(0x3000, 0xA000),
              lambda: rng.randrange(0x250), lambda: rng.choice([0x20, 0x0A, 0x3000, 0xD800, 0x5F, 0xFF66])]
    made = ["".join(chr(rng.choice(planes)()) for _ in range(rng.randrange(60))) for _ in range(5000)]
    return real_docs["zh"] + real_docs["en"] + made + ["", " ", "_", "a_b", "日本語のテキスト", "Ⅷ ½ ²"]


def test_table_matches_text_language_length_and_symbol_share(real_docs):
    for s in _samples(real_docs):
        assert charclass.language(s) == text.language(s), s
        assert charclass.language(s, 0.6) == text.language(s, 0.6), s
        assert charclass.length_units(s) == text.length_units(s), s
        assert charclass.symbol_share(s) == _old_symbol_share(s), s


def test_code_points_outside_the_spans_have_no_class():
    table = charclass.table()
    for cp in list(range(0x40000, 0xE0000, 89)) + list(range(0xE1000, 0x110000, 89)):
        c = chr(cp)
        assert table[cp] == 0
        assert not (c.isalpha() or c.isalnum() or c.isspace() or unicodedata.category(c).startswith("P")), hex(cp)
