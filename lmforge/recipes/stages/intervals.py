"""The claims stages' interval over seeds: Student's t of a mean (and of a paired difference) over
a handful of training seeds, and how a difference reads (lower only when its interval says so).
Proportions over questions use lmforge.stats (Wilson)."""

from __future__ import annotations

import math
from typing import Sequence

from scipy import stats


def t_interval(values: Sequence[float], level: float = 0.95) -> tuple[float, float, float]:
    """(mean, low, high): Student's t over the values (seeds); NaN bounds for fewer than two."""
    n = len(values)
    mean = sum(values) / n
    if n < 2:
        return mean, math.nan, math.nan
    sd = math.sqrt(sum((v - mean) ** 2 for v in values) / (n - 1))
    half = stats.t.ppf(0.5 + level / 2, n - 1) * sd / math.sqrt(n)
    return mean, mean - half, mean + half


def fmt(point: float, low: float, high: float, digits: int = 3) -> str:
    """`point [low, high]`, or the point alone when there is no interval."""
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
