"""Cleaning: small named steps (rewrites and keep/drop filters) that work for Chinese and English.

Length and repetition are measured in characters for CJK text (English-word counters, as in
Gopher/C4 filters, reject all Chinese), language by script share (CJK vs Latin); both, and the
CJK-aware NFKC `normalize`, come from lmforge.text.
"""

from __future__ import annotations

import html
import math
import re
from collections import Counter
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any, Callable

import numpy as np
import opencc

from lmforge.data.minhash import batches, ngram_hashes_many
from lmforge.data import charclass
from lmforge.data import filters as quality, pii
from lmforge.data.read import read_documents
from lmforge.errors import UserError
from lmforge.text import cjk_share, language, length_units, normalize

__all__ = ["Cleaner", "DEFAULT_STEPS", "FILTERS", "REWRITES", "cjk_share", "language", "length_units",
           "normalize"]

_TAG = re.compile(r"<(script|style)\b.*?</\1\s*>|<!--.*?-->|<[^>\n]{1,500}>", re.S | re.I)
_URL = re.compile(r"\b(?:https?://|ftp://|www\.)[^\s<>\"'，。）)]+", re.I)
_EMAIL = re.compile(r"\b[\w.+-]+@[\w-]+(?:\.[\w-]+)+\b")
_IP = re.compile(r"\b(?:(?:25[0-5]|2[0-4]\d|1?\d?\d)\.){3}(?:25[0-5]|2[0-4]\d|1?\d?\d)\b")
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u200b-\u200f\ufeff]")
_CJK = re.compile("[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\U00020000-\U0003134f]")
_TRAILING_SPACE = re.compile(r"[ \t]+\n")
_BLANK_LINES = re.compile(r"\n{3,}")
_SPACES = re.compile(r"[ \t]{2,}")
# cheap tests for "this regex cannot match": most documents have no URL, e-mail or IP address
# a case-insensitive "www." contains one of these: plain substring tests, 5x faster than a re.I search
_WWW_HINTS = ("ww.", "wW.", "Ww.", "WW.")
_IP_HINT = re.compile(r"\d\.\d")


# ---- rewrites: text -> text ---------------------------------------------------------------
# normalize (NFKC that keeps full-width Chinese punctuation) comes from lmforge.text, like
# language() and length_units(): one definition for cleaning, tokenizer stats and SFT filters.


@lru_cache(maxsize=1)
def _t2s() -> opencc.OpenCC:
    """OpenCC's C++ converter (the `opencc` package), built once per process."""
    return opencc.OpenCC("t2s")


def to_simplified(text: str) -> str:
    """Traditional -> simplified Chinese (OpenCC t2s); text without a CJK character is returned as is."""
    return _t2s().convert(text) if _CJK.search(text) else text


def strip_control(text: str) -> str:
    return _CONTROL.sub("", text)


def strip_html(text: str) -> str:
    return html.unescape(_TAG.sub(" ", text))


def strip_urls(text: str) -> str:
    maybe = "://" in text or any(h in text for h in _WWW_HINTS)
    return _URL.sub("", text) if maybe else text


def strip_emails(text: str) -> str:
    return _EMAIL.sub("", text) if "@" in text else text


def strip_ips(text: str) -> str:
    return _IP.sub("", text) if _IP_HINT.search(text) else text


def collapse_whitespace(text: str) -> str:
    if "\t" not in text and "  " not in text and " \n" not in text and "\n\n\n" not in text:
        return text.strip()  # none of the patterns below can match
    text = _TRAILING_SPACE.sub("\n", text)
    return _BLANK_LINES.sub("\n\n", _SPACES.sub(" ", text)).strip()


# ---- filters: text -> keep? Each is defined on a batch of texts (a keep mask, numpy over the
# batch's joined characters); the single-text form asks the batch form.
def min_length(text: str, min_units: int = 20) -> bool:
    return bool(min_length_many([text], min_units)[0])


def min_length_many(texts: list[str], min_units: int = 20) -> np.ndarray:
    return charclass.length_units_many(*charclass.flags_many(texts)) >= min_units


def max_symbol_ratio(text: str, max_ratio: float = 0.3) -> bool:
    """Share of characters that are neither letters, digits, CJK, whitespace nor common punctuation."""
    return bool(max_symbol_ratio_many([text], max_ratio)[0])


def max_symbol_ratio_many(texts: list[str], max_ratio: float = 0.3) -> np.ndarray:
    return charclass.symbol_shares(*charclass.flags_many(texts)) <= max_ratio  # NaN (no characters): dropped


def max_line_repetition(text: str, max_dup_line_share: float = 0.3) -> bool:
    lines = [x.strip() for x in text.splitlines() if x.strip()]
    if len(lines) < 3:
        return True
    dup = sum(n - 1 for n in Counter(lines).values() if n > 1)
    return dup / len(lines) <= max_dup_line_share


def max_ngram_repetition(text: str, n: int = 10, max_share: float = 0.2) -> bool:
    """Share of characters covered by the most frequent character n-gram (repeated boilerplate)."""
    return bool(max_ngram_repetition_many([text], n, max_share)[0])


def max_ngram_repetition_many(texts: list[str], n: int = 10, max_share: float = 0.2) -> np.ndarray:
    compact = ["".join(t.split()) for t in texts]  # without whitespace
    keep = np.ones(len(texts), dtype=bool)
    long = [i for i, c in enumerate(compact) if len(c) >= 2 * n]
    for lo, hi in batches([compact[i] for i in long]):
        keep[long[lo:hi]] = _top_ngram_share_ok([compact[i] for i in long[lo:hi]], n, max_share)
    return keep


def _top_ngram_share_ok(texts: list[str], n: int, max_share: float) -> np.ndarray:
    """Whether each text's most frequent n-gram covers at most `max_share` of it. A hash bucket's
    count bounds the count of each n-gram in it (buckets: 2-4x the n-grams): most texts pass on
    the bound alone, the rest are counted exactly."""
    h, bounds = ngram_hashes_many(texts, n)
    grams = np.diff(bounds)
    size = np.array([1 << (2 * int(g)).bit_length() for g in grams], dtype=np.int64)
    offset = np.zeros(len(texts) + 1, dtype=np.int64)
    np.cumsum(size, out=offset[1:])
    text = np.repeat(np.arange(len(texts)), grams)
    bucket = offset[text] + (h & (size[text] - 1).astype(np.uint64)).astype(np.int64)
    chars = grams + n - 1
    ok = np.maximum.reduceat(np.bincount(bucket, minlength=offset[-1]), offset[:-1]) * n / chars <= max_share
    for i in np.flatnonzero(~ok):
        top = int(np.unique(h[bounds[i]:bounds[i + 1]], return_counts=True)[1].max())
        ok[i] = top * n / chars[i] <= max_share if top > 1 else True
    return ok


def language_of(text: str, zh_threshold: float = 0.3) -> str:
    """lmforge.text.language (by lookup table), remembered for the last few texts (the filter
    and the report ask twice)."""
    return _language(text, zh_threshold)


_language = lru_cache(maxsize=8)(charclass.language)


def keep_languages(text: str, languages: tuple[str, ...] | list[str] = ("zh", "en"),
                   zh_threshold: float = 0.3) -> bool:
    return language_of(text, zh_threshold) in languages


def keep_languages_many(texts: list[str], languages: tuple[str, ...] | list[str] = ("zh", "en"),
                        zh_threshold: float = 0.3) -> np.ndarray:
    return np.isin(charclass.languages(*charclass.flags_many(texts), zh_threshold), list(languages))


@lru_cache(maxsize=4)
def _char_lm(reference: str, n: int) -> tuple[Counter, Counter, int]:
    """Character n-gram counts of a reference corpus (any file/folder lmforge can read)."""
    grams: Counter = Counter()
    for doc in read_documents([reference]):
        padded = "\x02" * (n - 1) + doc
        grams.update(padded[i:i + n] for i in range(len(doc)))
    contexts: Counter = Counter()
    for g, c in grams.items():
        contexts[g[:-1]] += c
    if not grams:
        raise UserError(f"{reference}: perplexity reference corpus is empty")
    return grams, contexts, len({g[-1] for g in grams}) + 1


def max_perplexity(text: str, reference: str, max_ppl: float = 1000.0, n: int = 3) -> bool:
    """Keep text whose add-one smoothed character n-gram perplexity under the reference is low
    (the CCNet/LLaMA idea, with characters so it also works for Chinese)."""
    grams, contexts, vocab = _char_lm(reference, n)
    padded = "\x02" * (n - 1) + text
    logp = sum(math.log((grams[padded[i:i + n]] + 1) / (contexts[padded[i:i + n - 1]] + vocab))
               for i in range(len(text)))
    return math.exp(-logp / max(1, len(text))) <= max_ppl


REWRITES: dict[str, Callable[..., str]] = {
    "normalize": normalize, "to_simplified": to_simplified, "strip_control": strip_control,
    "strip_html": strip_html, "strip_urls": strip_urls, "strip_emails": strip_emails,
    "strip_ips": strip_ips, "collapse_whitespace": collapse_whitespace,
}
FILTERS: dict[str, Callable[..., bool]] = {
    "min_length": min_length, "max_symbol_ratio": max_symbol_ratio,
    "max_line_repetition": max_line_repetition, "max_ngram_repetition": max_ngram_repetition,
    "keep_languages": keep_languages, "max_perplexity": max_perplexity,
}
BATCH_FILTERS: dict[str, Callable[..., np.ndarray]] = {
    "min_length": min_length_many, "max_symbol_ratio": max_symbol_ratio_many,
    "max_ngram_repetition": max_ngram_repetition_many, "keep_languages": keep_languages_many,
}
REWRITES.update(**quality.REWRITES, **pii.REWRITES)  # c4_lines, mask_pii
FILTERS.update(quality.FILTERS)  # gopher_quality, c4_quality, fineweb_quality, ... (data/filters.py)

DEFAULT_STEPS: list[dict[str, Any]] = [
    {"normalize": {}}, {"to_simplified": {}}, {"strip_control": {}}, {"strip_html": {}}, {"strip_urls": {}},
    {"strip_emails": {}}, {"strip_ips": {}}, {"collapse_whitespace": {}},
    {"min_length": {"min_units": 20}}, {"max_symbol_ratio": {"max_ratio": 0.3}},
    {"max_line_repetition": {}}, {"max_ngram_repetition": {}}, {"keep_languages": {}},
]


@dataclass
class StepStats:
    docs_in: int = 0
    docs_out: int = 0
    chars_in: int = 0
    chars_out: int = 0
    samples: list[str] = field(default_factory=list)  # the first few documents a filter removed


@dataclass
class Cleaner:
    """Runs the configured steps in order and counts documents and characters per step."""

    steps: list[dict[str, Any]] = field(default_factory=lambda: [dict(s) for s in DEFAULT_STEPS])
    stats: dict[str, StepStats] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self._fns = []
        for i, step in enumerate(self.steps):
            if not isinstance(step, dict) or len(step) != 1:
                raise UserError(f"clean step {i}: expected {{name: {{params}}}}, got {step!r}")
            (name, params), = step.items()
            fn = REWRITES.get(name) or FILTERS.get(name)
            if fn is None:
                raise UserError(f"clean step {i}: unknown step {name!r}; known: "
                                 f"{', '.join(list(REWRITES) + list(FILTERS))}")
            if name in FILTERS:
                fn = BATCH_FILTERS.get(name) or _one_at_a_time(fn)
            self._fns.append((name, fn, params or {}, name in FILTERS))
            self.stats.setdefault(name, StepStats())

    def __call__(self, text: str) -> str | None:
        """The cleaned text, or None when a filter dropped it."""
        return self.clean_many([text])[0]

    def clean_many(self, texts: list[str]) -> list[str | None]:
        """Each text cleaned, or None where a filter dropped it. Every step runs over the batch's
        survivors in turn: the same texts, counts and samples as one text at a time."""
        out: list[str | None] = list(texts)
        alive = list(range(len(texts)))
        for name, fn, params, is_filter in self._fns:
            st = self.stats[name]
            st.docs_in += len(alive)
            st.chars_in += sum(len(out[i]) for i in alive)
            if is_filter:
                alive = _apply_filter(st, fn, params, out, alive)
            else:
                for i in alive:
                    out[i] = fn(out[i], **params)
            st.docs_out += len(alive)
            st.chars_out += sum(len(out[i]) for i in alive)
        return out


def _apply_filter(st: StepStats, fn: Callable[..., Any], params: dict[str, Any], out: list[str | None],
                  alive: list[int]) -> list[int]:
    """Set out[i] to None where the filter drops it (keeping the first few as samples); the survivors."""
    keep = fn([out[i] for i in alive], **params)
    for i, k in zip(alive, keep):
        if not k:
            if len(st.samples) < 3:
                st.samples.append(out[i][:300])
            out[i] = None
    return [i for i, k in zip(alive, keep) if k]


def _one_at_a_time(fn: Callable[..., bool]) -> Callable[..., list[bool]]:
    return lambda texts, **params: [fn(t, **params) for t in texts]
