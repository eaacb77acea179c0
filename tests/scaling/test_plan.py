import numpy as np
import pytest
from scipy.optimize import minimize_scalar

from lmforge.cli import main
from lmforge.scaling.fit import HOFFMANN_2022, default_law
from lmforge.scaling.plan import gpu_flops, optimal_allocation, plan


def test_closed_form_matches_numeric_optimum():
    p = HOFFMANN_2022
    C = 5.76e23  # Chinchilla's budget
    n, d = optimal_allocation(p, C)
    assert 6 * n * d == pytest.approx(C)

    def loss(logn):
        N = np.exp(logn)
        return p["E"] + p["A"] / N ** p["alpha"] + p["B"] / (C / (6 * N)) ** p["beta"]

    best = minimize_scalar(loss, bounds=(np.log(1e8), np.log(1e13)), method="bounded",
                           options={"xatol": 1e-10})
    assert n == pytest.approx(np.exp(best.x), rel=1e-4)


def test_gpu_budget_and_errors():
    assert gpu_flops("H100", 8, 24 * 30, 0.4) == pytest.approx(8 * 30 * 86400 * 989e12 * 0.4)
    assert gpu_flops("rtx4090", 1, 1, 1.0) == pytest.approx(3600 * 165.2e12)
    with pytest.raises(ValueError, match="unknown GPU 'v100'"):
        gpu_flops("v100", 1, 1, 0.5)
    with pytest.raises(ValueError, match="mfu"):
        gpu_flops("h100", 1, 1, 1.5)


def test_plan_intervals_contain_point():
    p = plan(default_law(), 1e22)
    assert p.loss_interval[0] <= p.loss <= p.loss_interval[1]
    assert p.n_interval[0] <= p.n_opt <= p.n_interval[1]
    assert 10 < p.d_opt / p.n_opt < 40  # Chinchilla-like tokens per parameter


def test_plan_cli_8xh100_30_days(capsys):
    assert main(["scaling", "plan", "--gpu", "h100", "--count", "8", "--days", "30", "--mfu", "0.4",
                 "--preset", "llama2-7b"]) == 0
    out = capsys.readouterr().out
    assert "Besiroglu" in out and "N* (params)" in out and "D* (tokens)" in out
    assert "predicted loss at (N*, D*)" in out and "interval" in out and "at N=6.74B" in out


def test_plan_cli_errors(capsys, tmp_path):
    assert main(["scaling", "plan", "--gpu", "h100"]) == 2
    assert "exactly one of `hours` or `days`" in capsys.readouterr().err
    assert main(["scaling", "plan", "--flops", "1e20", "--fit", str(tmp_path / "no.json")]) == 2
    assert "not found" in capsys.readouterr().err


def _plan_config(argv):
    from tests.cli_config import config_of

    return config_of(["scaling", "plan", *argv])


def test_plan_hours_or_days_from_flag_key_value_and_recipe_stage():
    """One PlanConfig: --days, days=, a recipe stage's days (or hours) give the same budget."""
    from lmforge.recipes.runner import check_params

    by_flag = _plan_config(["--gpu", "h100", "--count", "8", "--days", "30"])
    by_key = _plan_config(["gpu=h100", "count=8", "days=30"])
    staged = check_params("scaling_plan", {"gpu": "h100", "count": 8, "days": 30}, "stages.plan")
    assert by_flag == by_key == staged
    in_hours = check_params("scaling_plan", {"gpu": "h100", "count": 8, "hours": 720}, "stages.plan")
    assert in_hours.budget() == by_flag.budget() == pytest.approx(gpu_flops("h100", 8, 720, 0.4))
    with pytest.raises(ValueError, match="exactly one of `hours` or `days`"):
        check_params("scaling_plan", {"gpu": "h100", "hours": 1, "days": 1}, "stages.plan")


def test_plan_stage_and_cli_report_the_same_prediction(capsys, tmp_path):
    from lmforge.model.flops import human
    from lmforge.recipes.kinds import STAGE_KINDS, StageContext
    from lmforge.scaling.plan import run_plan

    cfg = _plan_config(["--flops", "1e21", "--preset", "llama2-7b"])
    r = run_plan(cfg)
    _, fn = STAGE_KINDS["scaling_plan"]
    _, summary = fn(cfg, StageContext("plan", tmp_path, tmp_path, {}))
    key = f"llama2-7b: {human(r.at.n)} params on {human(r.at.d)} tokens"
    assert summary["headline"][key] == f"predicted loss {r.at.loss:.3f}"
    assert main(["scaling", "plan", "--flops", "1e21", "--preset", "llama2-7b"]) == 0
    assert f"predicted loss {r.at.loss:.3f}" in capsys.readouterr().out
