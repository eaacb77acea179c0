"""Scores with their uncertainty: n, a 95% interval and the chance level, and when a change is a gain.

A proportion (accuracy, exact match: k right of n) gets the Wilson score interval; a mean of
non-binary values (rewards, per-document losses) a percentile bootstrap of the mean (seeded, so a
report is reproducible). A mean over a handful of training seeds gets Student's t interval
(`t_interval`), and a paired difference over seeds reads lower/higher only when its interval
excludes zero (`reads`). A change between two scores is called a gain (or a drop) only when their
95% intervals do not overlap: stricter than a test of the difference (two non-overlapping 95%
intervals mean p < 0.01 roughly), and it needs nothing but the two summaries, so any two scores in
a report can be compared. A score with a chance level (multiple choice: 1/number of choices) is
above (below) chance only when its whole interval is.

Scores travel in stage summaries (JSON) as plain dicts: `{"kind": "score", "value", "n", "ci95",
"chance", "method", "unit"}` (an optional "note" is read with it; `"paired": True` marks a mean of
paired differences, read against 0) and `{"kind": "change", "before",
"after", "verdict"}`; `show` renders either (or any other value) as one line of text.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

Z95 = 1.959963984540054  # the standard normal's 97.5% quantile
GAIN, DROP, SAME = "gain", "drop", "no change beyond the 95% intervals"
PAIRED_SAME = "no change (the interval spans 0)"
ABOVE, AT, BELOW = "above chance", "at chance", "below chance"


def wilson(k: int, n: int, z: float = Z95) -> tuple[float, float]:
    """Wilson score interval of k successes in n trials (no continuity correction); (0, 1) for n=0."""
    if not 0 <= k <= n:
        raise ValueError(f"wilson: need 0 <= k <= n, got k={k}, n={n}")
    if n == 0:
        return 0.0, 1.0
    p, z2 = k / n, z * z
    centre = (p + z2 / (2 * n)) / (1 + z2 / n)
    half = z / (1 + z2 / n) * math.sqrt(p * (1 - p) / n + z2 / (4 * n * n))
    return max(0.0, centre - half), min(1.0, centre + half)


def bootstrap_mean(values: Sequence[float], rounds: int = 2000, seed: int = 0,
                   level: float = 0.95) -> tuple[float, float]:
    """Percentile bootstrap interval of the mean of `values` (resampled with replacement)."""
    if not values:
        raise ValueError("bootstrap_mean: no values")
    rng, n = random.Random(seed), len(values)
    return _percentiles(sorted(sum(rng.choices(values, k=n)) / n for _ in range(rounds)), level)


def bootstrap(n: int, statistic: Callable[[np.ndarray], float], rounds: int = 1000, seed: int = 0,
              level: float = 0.95) -> tuple[float, float]:
    """Percentile bootstrap interval of `statistic(indices)` over n items resampled with replacement:
    for a statistic that is not a plain mean (corpus BLEU, a ratio of sums, ratings from games),
    the items' own statistics are kept and each round picks which items count (seeded)."""
    if n < 1:
        raise ValueError("bootstrap: no items")
    rows = np.random.default_rng(seed).integers(0, n, size=(rounds, n))
    return _percentiles(sorted(float(statistic(row)) for row in rows), level)


def _percentiles(ordered: Sequence[float], level: float) -> tuple[float, float]:
    """The (1 - level) / 2 and (1 + level) / 2 points of sorted bootstrap values."""
    last, tail = len(ordered) - 1, (1 - level) / 2
    return ordered[int(tail * last)], ordered[math.ceil((1 - tail) * last)]


def t_interval(values: Sequence[float], level: float = 0.95) -> tuple[float, float, float]:
    """(mean, low, high): Student's t interval of the mean over a few values (training seeds);
    NaN bounds for fewer than two."""
    from scipy.stats import t as student_t  # heavy (about 0.3 s): only the claims stages need it

    n = len(values)
    centre = sum(values) / n
    if n < 2:
        return centre, math.nan, math.nan
    sd = math.sqrt(sum((v - centre) ** 2 for v in values) / (n - 1))
    half = student_t.ppf(0.5 + level / 2, n - 1) * sd / math.sqrt(n)
    return centre, centre - half, centre + half


def fmt(point: float, low: float, high: float, digits: int = 3) -> str:
    """`point [low, high]` (a t_interval's output), or the point alone when there is no interval."""
    if math.isnan(low):
        return f"{point:.{digits}f} (no interval: one value)"
    return f"{point:.{digits}f} [{low:.{digits}f}, {high:.{digits}f}]"


def reads(low: float, high: float, below: str = "lower", above: str = "higher") -> str:
    """How a difference's interval reads: below or above zero, or not distinguishable from it."""
    if math.isnan(low):
        return "no interval (one seed)"
    if high < 0:
        return below
    if low > 0:
        return above
    return "not distinguishable (the interval spans 0)"


def score(value: float, n: int, ci: tuple[float, float], method: str, unit: str,
          chance: float | None = None) -> dict[str, Any]:
    """A score from a value and an interval computed elsewhere (e.g. a t interval logged in training)."""
    return _score(value, n, ci, chance, method, unit)


def proportion(k: int, n: int, chance: float | None = None, unit: str = "questions") -> dict[str, Any]:
    """k right of n as a score: value k/n with its Wilson 95% interval."""
    lo, hi = wilson(k, n)
    return _score(k / n if n else 0.0, n, (lo, hi), chance, "wilson", unit)


def rate(value: float, n: int, chance: float | None = None, unit: str = "questions") -> dict[str, Any]:
    """A proportion given as its rate (value = k/n, k a whole number) as a score."""
    return proportion(round(value * n), n, chance, unit)


def mean(values: Sequence[float], chance: float | None = None, unit: str = "values",
         seed: int = 0) -> dict[str, Any]:
    """The mean of non-binary values as a score, with a bootstrap 95% interval."""
    values = [float(v) for v in values]
    lo, hi = bootstrap_mean(values, seed=seed)
    return _score(sum(values) / len(values), len(values), (lo, hi), chance, "bootstrap", unit)


def paired_difference(values: Sequence[float], unit: str = "values", seed: int = 0) -> dict[str, Any]:
    """The mean of paired differences (after minus before, item by item) as a score that reads as a
    gain or a drop when its bootstrap interval excludes 0: a paired comparison, which sees a change
    that two overlapping before/after intervals hide."""
    return {**mean(values, unit=unit, seed=seed), "paired": True}


def _score(value: float, n: int, ci: tuple[float, float], chance: float | None, method: str,
           unit: str) -> dict[str, Any]:
    out: dict[str, Any] = {"kind": "score", "value": value, "n": n, "ci95": [ci[0], ci[1]],
                           "method": method, "unit": unit}
    if chance is not None:
        out["chance"] = chance
    return out


def is_score(value: Any) -> bool:
    return isinstance(value, dict) and value.get("kind") == "score"


def is_change(value: Any) -> bool:
    return isinstance(value, dict) and value.get("kind") == "change"


def verdict(before: dict[str, Any], after: dict[str, Any], higher_is_better: bool = True) -> str:
    """GAIN or DROP when the two 95% intervals do not overlap, else SAME."""
    (blo, bhi), (alo, ahi) = before["ci95"], after["ci95"]
    if alo > bhi:
        return GAIN if higher_is_better else DROP
    if ahi < blo:
        return DROP if higher_is_better else GAIN
    return SAME


def change(before: dict[str, Any], after: dict[str, Any], higher_is_better: bool = True) -> dict[str, Any]:
    """Two scores of the same measure (before -> after) and the verdict their intervals give."""
    return {"kind": "change", "before": before, "after": after,
            "verdict": verdict(before, after, higher_is_better)}


def against_chance(score: dict[str, Any]) -> str | None:
    """ABOVE / BELOW when the whole interval is above / below the chance level, AT when it holds it."""
    chance = score.get("chance")
    if chance is None:
        return None
    lo, hi = score["ci95"]
    return ABOVE if lo > chance else BELOW if hi < chance else AT


def paired_verdict(score: dict[str, Any]) -> str:
    """GAIN / DROP when a paired difference's interval is above / below 0, else PAIRED_SAME."""
    lo, hi = score["ci95"]
    return GAIN if lo > 0 else DROP if hi < 0 else PAIRED_SAME


def moved(value: Any) -> bool:
    """Whether a score or change shows something learned: a gain (paired or not), or a score above chance."""
    if is_change(value):
        return value["verdict"] == GAIN
    if is_score(value) and value.get("paired"):
        return paired_verdict(value) == GAIN
    return is_score(value) and against_chance(value) == ABOVE


def interval_text(score: dict[str, Any], digits: int = 3) -> str:
    lo, hi = score["ci95"]
    return f"[{lo:.{digits}f}, {hi:.{digits}f}]"


def reading(value: Any) -> str:
    """What a score or a change says: the verdict, or where it sits against chance."""
    if is_change(value):
        after = reading(value["after"])
        return f"{value['verdict']}; after: {after}" if after else value["verdict"]
    if is_score(value):
        where = against_chance(value)
        parts = ([f"{where} ({value['chance']:.3g})"] if where else []) + ([value["note"]] if "note" in value else [])
        if value.get("paired"):
            parts.insert(0, f"paired: {paired_verdict(value)}")
        return "; ".join(parts)
    return ""


def show(value: Any, digits: int = 3) -> str:
    """One line for a score ("0.625 [0.470, 0.758], n=40 questions, chance 0.25: above chance"),
    a change ("0.000 -> 0.625, n=40 ...: gain") or anything else (str)."""
    if is_change(value):
        b, a = value["before"], value["after"]
        text = (f"{b['value']:.{digits}f} {interval_text(b, digits)} -> {a['value']:.{digits}f} "
                f"{interval_text(a, digits)}, n={n_text(a)}")
        return f"{text}: {reading(value)}"
    if is_score(value):
        text = f"{value['value']:.{digits}f} {interval_text(value, digits)}, n={n_text(value)}"
        return f"{text}: {reading(value)}" if reading(value) else text
    return str(value)


def n_text(score: dict[str, Any]) -> str:
    """"40 questions": n and its unit."""
    return f"{score['n']} {score.get('unit', '')}".rstrip()
