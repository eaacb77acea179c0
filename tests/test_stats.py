"""lmforge.stats: Wilson intervals against scipy's, the bootstrap, and when a change is a gain."""

from __future__ import annotations

import math
import random

import numpy as np
import pytest
from scipy.stats import binomtest, sem
from scipy.stats import t as t_dist

from lmforge import stats


@pytest.mark.parametrize("k,n", [(0, 40), (25, 40), (40, 40), (1, 3), (20, 80), (7, 1000)])
def test_wilson_matches_scipy(k, n):
    ci = binomtest(k, n).proportion_ci(confidence_level=0.95, method="wilson")
    assert stats.wilson(k, n) == pytest.approx((ci.low, ci.high), abs=1e-12)


def test_wilson_hand_made_example():
    # 25 of 40: centre (25 + z^2/2) / (40 + z^2) = 0.61404, half-width 0.14372 (by hand)
    lo, hi = stats.wilson(25, 40)
    assert lo == pytest.approx(0.4703, abs=1e-4) and hi == pytest.approx(0.7578, abs=1e-4)
    assert stats.wilson(0, 40) == pytest.approx((0.0, 0.0876), abs=1e-4)
    assert stats.wilson(0, 0) == (0.0, 1.0)
    with pytest.raises(ValueError, match="k <= n"):
        stats.wilson(5, 4)


def test_bootstrap_mean_covers_the_mean_and_shrinks_with_n():
    rng = random.Random(1)
    small = [rng.gauss(1.0, 1.0) for _ in range(20)]
    big = [rng.gauss(1.0, 1.0) for _ in range(2000)]
    lo_s, hi_s = stats.bootstrap_mean(small)
    lo_b, hi_b = stats.bootstrap_mean(big)
    assert lo_s < sum(small) / 20 < hi_s and lo_b < 1.0 < hi_b
    # the normal approximation: half-width about 1.96 sd / sqrt(n)
    assert (hi_b - lo_b) / 2 == pytest.approx(1.96 / 2000 ** 0.5, rel=0.15)
    assert hi_s - lo_s > 5 * (hi_b - lo_b)
    assert stats.bootstrap_mean(small) == stats.bootstrap_mean(small)  # seeded
    assert stats.bootstrap_mean([2.0] * 5) == (2.0, 2.0)


def test_a_real_gain_is_a_gain_and_noise_is_not():
    demo = stats.change(stats.proportion(0, 40), stats.proportion(25, 40))  # the demo's SFT
    assert demo["verdict"] == stats.GAIN and stats.moved(demo)
    noise = stats.change(stats.proportion(10, 40), stats.proportion(14, 40))
    assert noise["verdict"] == stats.SAME and not stats.moved(noise)
    assert stats.change(stats.proportion(30, 40), stats.proportion(5, 40))["verdict"] == stats.DROP
    loss = stats.change(stats.mean([3.0, 3.1, 2.9] * 5), stats.mean([2.0, 2.1, 1.9] * 5), higher_is_better=False)
    assert loss["verdict"] == stats.GAIN


def test_against_chance():
    assert stats.against_chance(stats.proportion(20, 80, chance=0.25)) == stats.AT
    assert stats.against_chance(stats.proportion(40, 80, chance=0.25)) == stats.ABOVE
    assert stats.against_chance(stats.proportion(5, 80, chance=0.25)) == stats.BELOW
    assert stats.against_chance(stats.proportion(5, 80)) is None
    assert stats.moved(stats.proportion(40, 80, chance=0.25))
    assert not stats.moved(stats.proportion(23, 80, chance=0.25))


def test_show_gives_n_interval_and_chance():
    assert stats.show(stats.proportion(20, 80, chance=0.25)) == \
        "0.250 [0.168, 0.355], n=80 questions: at chance (0.25)"
    assert stats.show(stats.change(stats.proportion(0, 40), stats.proportion(25, 40))) == \
        "0.000 [0.000, 0.088] -> 0.625 [0.470, 0.758], n=40 questions: gain"
    assert stats.show("6.3 -> 6.2") == "6.3 -> 6.2" and stats.show(0.5) == "0.5"
    assert stats.rate(0.625, 40) == stats.proportion(25, 40)


def test_t_interval_on_a_hand_example_and_scipy():
    mean, lo, hi = stats.t_interval([1.0, 2.0, 3.0])  # sd 1, t(0.975, 2) = 4.3027
    assert mean == 2.0 and hi - mean == pytest.approx(4.302653 / math.sqrt(3), rel=1e-5)
    assert lo == pytest.approx(2 * mean - hi)
    values = [6.05, 6.11, 6.02, 6.08]
    ref = t_dist.interval(0.95, len(values) - 1, loc=sum(values) / 4, scale=sem(values))
    assert stats.t_interval(values)[1:] == pytest.approx(ref, abs=1e-12)
    assert math.isnan(stats.t_interval([5.0])[1]) and stats.fmt(*stats.t_interval([5.0])).endswith("(no interval: one value)")


def test_a_difference_is_lower_only_when_its_interval_says_so():
    assert stats.reads(*stats.t_interval([-0.05, -0.04, -0.06])[1:]) == "lower"
    assert stats.reads(*stats.t_interval([-0.05, 0.01])[1:]).startswith("not distinguishable")
    assert stats.reads(0.01, 0.02) == "higher"


def test_bootstrap_of_any_statistic_by_hand():
    values = np.array([0.0, 1.0])
    # resamples of two: {0, 0} mean 0 (p 1/4), {0, 1} 0.5 (1/2), {1, 1} 1 (1/4): percentiles 0 and 1
    assert stats.bootstrap(2, lambda rows: values[rows].mean()) == (0.0, 1.0)
    assert stats.bootstrap(1, lambda rows: 7.0) == (7.0, 7.0)
    with pytest.raises(ValueError, match="no items"):
        stats.bootstrap(0, lambda rows: 0.0)
