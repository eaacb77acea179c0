"""`lmforge eval mc`'s results.md: every accuracy with n, its Wilson 95% interval and the chance level."""

from __future__ import annotations

from lmforge.eval.multiple_choice import mc_report


def test_mc_report_rows_carry_interval_and_chance():
    results = {"ceval": {"n": 80, "shots": 0, "acc": 0.25, "acc_norm": 0.2375, "acc_macro": 0.25, "chance": 0.25,
                         "categories": {"STEM": {"n": 40, "acc": 0.5, "acc_norm": 0.5, "acc_macro": 0.5}},
                         "chat": {"n": 80, "acc": 0.0, "unparsed": 1.0}}}
    text = mc_report(results)
    # Wilson 20/80 = [0.168, 0.355], 19/80 = [0.158, 0.341] and 20/40 = [0.352, 0.648] (as scipy's binomtest gives)
    assert "| ceval | 80 | 0 | 0.2500 | [0.168, 0.355] | 0.2375 | [0.158, 0.341] | 0.2500 | 0.2500 |" in text
    assert "| ceval / STEM | 40 | 0 | 0.5000 | [0.352, 0.648] | 0.5000 | [0.352, 0.648] | 0.5000 | 0.2500 |" in text
    assert "| ceval | 80 | 0 | 0.0000 | [0.000, 0.046] | 1.0000 | 0.2500 |" in text
    assert "no better than guessing" in text
