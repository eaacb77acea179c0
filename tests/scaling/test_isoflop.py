"""IsoFLOP profiles (Chinchilla approach 2): recovering a known law, flagging a profile whose
minimum is not inside its sizes, and the held-out prediction end to end with a law-driven runner."""

import json

import numpy as np
import pytest

from lmforge.errors import UserError
from lmforge.scaling.isoflop import fit_isoflop, fit_profile
from lmforge.scaling.isoflop_run import IsoFLOPConfig, run_isoflop
from lmforge.scaling.sweep import RunOutcome, isoflop_points
from tests.scaling.test_sweep import base_config, fake_data

E, A, B, ALPHA, BETA = 1.8, 400.0, 400.0, 0.34, 0.28


def law(n, d):
    return E + A / n ** ALPHA + B / d ** BETA


def profiles_of_law(budgets, sizes_per_budget=7):
    """Points of the known law on IsoFLOP lines (C = 6ND) around each budget's optimum."""
    g = (ALPHA * A / (BETA * B)) ** (1 / (ALPHA + BETA))
    N, C, L = [], [], []
    for c in budgets:
        n_opt = g * (c / 6) ** (BETA / (ALPHA + BETA))
        for n in n_opt * np.logspace(-0.6, 0.6, sizes_per_budget):
            N.append(n), C.append(c), L.append(law(n, c / (6 * n)))  # noqa: E702
    return np.array(N), np.array(C), np.array(L)


def test_profiles_recover_the_laws_compute_optimal_exponent():
    budgets = [1e18, 1e19, 1e20, 1e21]
    N, C, L = profiles_of_law(budgets)
    fit = fit_isoflop(N, C, L, budgets, bootstrap=0)
    assert fit.problems == []
    # Hoffmann et al. eq. 4: N_opt grows as C^(beta / (alpha + beta)) = 0.4516
    assert fit.a == pytest.approx(BETA / (ALPHA + BETA), abs=0.01)
    # L_opt is a pure power law (no floor E): over three decades it bends away from the truth...
    c = 1e22
    assert fit.predict(c, fit.n_opt(c)) < 0.95 * law(fit.n_opt(c), c / (6 * fit.n_opt(c)))
    # ...and over a factor of 4 (the recipe's span) it extrapolates one doubling within 1%
    budgets = [1e18, 2e18, 4e18]
    fit = fit_isoflop(*profiles_of_law(budgets), budgets, bootstrap=0)
    c = 8e18
    n_opt = fit.n_opt(c)
    assert fit.predict(c, n_opt) == pytest.approx(law(n_opt, c / (6 * n_opt)), rel=0.01)


def test_a_profile_still_falling_at_its_largest_size_is_flagged():
    # loss keeps falling with size: the parabola's vertex lies beyond the largest size trained
    p = fit_profile(1e15, [1e5, 2e5, 4e5, 8e5], [6.0, 5.5, 5.2, 5.05])
    assert "outside the sizes trained" in p.problem()
    p = fit_profile(1e15, [1e5, 2e5, 4e5], [5.0, 5.5, 5.0])  # a maximum, not a minimum
    assert "does not curve upwards" in p.problem()
    assert fit_profile(1e15, [1e5, 2e5, 4e5], [5.5, 5.0, 5.4]).problem() is None
    with pytest.raises(UserError, match="3 or more model sizes"):
        fit_profile(1e15, [1e5, 1e5, 2e5], [5.0, 5.1, 5.2])


def law_runner(calls):
    """Loss from the known law at the point's non-embedding size and tokens."""
    def run(cfg):
        calls.append(cfg)
        h, layers = cfg.model.overrides()["hidden_size"], cfg.model.overrides()["num_hidden_layers"]
        d = cfg.train.max_steps * cfg.train.tokens_per_step()
        loss = law(12 * layers * h * h, d)
        return RunOutcome(d, loss, loss)
    return run


def test_isoflop_points_keep_whole_steps_inside_the_step_window(tmp_path):
    base = base_config(fake_data(tmp_path))  # 2 x 16 = 32 tokens per step
    points = isoflop_points(base, [1, 2, 4, 8], [1e9, 4e9], aspect=16, head_dim=16, min_steps=20, max_steps=5000)
    assert points and all(t % 32 == 0 and 20 * 32 <= t <= 5000 * 32 and b == 2 for _, t, b in points)
    by_budget = [t for d, t, _ in points if d == 2]
    assert len(by_budget) == 2 and by_budget[1] == pytest.approx(4 * by_budget[0], rel=0.01)


def test_fixed_steps_set_each_points_batch_from_its_budget(tmp_path):
    base = base_config(fake_data(tmp_path))  # rows of 16 tokens
    small, big = ({d: (t, rows) for d, t, rows in isoflop_points(base, [1, 2, 4], [c], 16, 16, steps=10)}
                  for c in (1e9, 4e9))
    assert all(t == 10 * 16 * rows for t, rows in list(small.values()) + list(big.values()))
    assert small[1][1] > small[2][1] > small[4][1] >= 1  # a bigger model: fewer rows in the same steps
    assert big[1][1] == pytest.approx(4 * small[1][1], rel=0.05)  # 4x the budget: 4x the rows


def test_run_isoflop_predicts_the_held_out_run_and_writes_its_plot(tmp_path):
    calls = []
    cfg = IsoFLOPConfig(pretrain=base_config(fake_data(tmp_path)), depths=[1, 2, 3, 4, 6, 8],
                        flops=[4e9, 1.6e10, 6.4e10], holdout_flops=2.56e11, aspect=16, head_dim=16,
                        min_steps=4, size="N", bootstrap=50, out=str(tmp_path / "iso"))
    r = run_isoflop(cfg, runner=law_runner(calls))
    assert r.fit.problems == [] and r.fit.a > 0
    assert abs(r.held_out.error) < 0.05
    assert r.held_out.flops == pytest.approx(2.56e11, rel=0.05)
    assert calls[-1].out.endswith(f"holdout/runs/d{r.held_out.depth}-t{calls[-1].train.max_steps * 32}")
    saved = json.loads(r.json.read_text())
    assert saved["held_out"]["observed"] == pytest.approx(r.held_out.observed)
    assert r.plot.stat().st_size > 10_000
    with pytest.raises(UserError, match="must be above every fitted budget"):
        run_isoflop(cfg.model_copy(update={"holdout_flops": 1e9}), runner=law_runner([]))
