import random

from lmforge.eval.elo import elo_with_ci, parse_verdict


def test_stronger_model_ranks_first_with_ci():
    rng = random.Random(0)
    strength = {"big": 0.8, "mid": 0.5, "small": 0.2}
    battles = []
    for _ in range(600):
        a, b = rng.sample(list(strength), 2)
        p = 0.5 + (strength[a] - strength[b]) / 2
        battles.append((a, b, 1.0 if rng.random() < p else 0.0))
    r = elo_with_ci(battles, rounds=50)
    assert list(r) == ["big", "mid", "small"]
    assert r["big"]["lo"] > r["small"]["hi"] and r["mid"]["lo"] < r["mid"]["elo"] < r["mid"]["hi"]


def test_parse_verdict():
    assert parse_verdict("A") == 1.0 and parse_verdict(" B.") == 0.0
    assert parse_verdict("Tie") == 0.5 and parse_verdict("neither") is None
