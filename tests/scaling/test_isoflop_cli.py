"""`lmforge scaling isoflop`: a hand-made results file of exact parabolas whose law is known, and
the user errors (exit 2, naming the key, file, line or column)."""

import csv
import json
import math

import pytest
import yaml

from lmforge.cli import main
from lmforge.scaling.isoflop import infer_budgets
from lmforge.scaling.isoflop_run import IsoFLOPConfig, run_isoflop

# loss = K_CURV (ln N - ln N_opt(C))^2 + L_opt(C), N_opt = G C^A, L_opt = K C^-B
G, A, K, B, K_CURV = 1.0, 0.5, 10.0, 0.05, 0.1
BUDGETS = [1e18, 1e19, 1e20]


def write_results(path, budgets=BUDGETS, columns=("N_total", "FLOPs", "loss")):
    """Three sizes per budget: N_opt / 10, N_opt and 10 N_opt (N_opt = 1e9, ~3.16e9, 1e10)."""
    with path.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(columns)
        for c in budgets:
            n_opt, l_opt = G * c ** A, K * c ** -B
            for factor in (0.1, 1.0, 10.0):
                w.writerow([n_opt * factor, c, K_CURV * math.log(factor) ** 2 + l_opt])
    return path


def write_config(tmp_path, **settings):
    path = tmp_path / "isoflop.yaml"
    path.write_text(yaml.safe_dump(settings))
    return str(path)


def test_exact_parabolas_give_the_known_law_and_prediction(tmp_path):
    csv_path = write_results(tmp_path / "results.csv")
    r = run_isoflop(IsoFLOPConfig(results=str(csv_path), predict_flops=1e22, bootstrap=20, out=str(tmp_path / "o")))
    # each profile's vertex: N_opt = sqrt(C), L_opt = 10 C^-0.05 (1e18: 1e9 and 10^0.1 = 1.2589)
    assert [p.n_opt for p in r.fit.profiles] == pytest.approx([1e9, 10 ** 9.5, 1e10], rel=1e-6)
    assert r.fit.profiles[0].l_opt == pytest.approx(10 ** 0.1, rel=1e-9)
    assert r.fit.a == pytest.approx(0.5, abs=1e-9) and r.fit.b == pytest.approx(0.05, abs=1e-9)
    assert math.exp(r.fit.log_g) == pytest.approx(1.0, rel=1e-6)
    assert math.exp(r.fit.log_k) == pytest.approx(10.0, rel=1e-6)
    assert r.fit.curvature == pytest.approx(0.1, rel=1e-6) and r.fit.problems == []
    p = r.prediction  # at 1e22: N_opt = 1e11, L_opt = 10 * 10^-1.1
    assert p.n_opt == pytest.approx(1e11, rel=1e-6) and p.l_opt == pytest.approx(10 ** -0.1, rel=1e-6)
    # no noise: every bootstrap refit is the same law, so the intervals shrink to the point
    assert p.n_interval == pytest.approx((1e11, 1e11), rel=1e-6)
    assert p.l_interval == pytest.approx((10 ** -0.1, 10 ** -0.1), rel=1e-6)
    # off the vertex, a size on the parabola: 1e12 at 1e22 is ln(10) from N_opt
    assert r.fit.predict(1e22, 1e12) == pytest.approx(10 ** -0.1 + 0.1 * math.log(10) ** 2, rel=1e-6)
    saved = json.loads(r.json.read_text())
    assert saved["prediction"]["n_opt"] == pytest.approx(1e11, rel=1e-6) and saved["held_out"] is None
    assert r.held_out is None and r.plot.stat().st_size > 10_000


def test_budgets_are_grouped_from_scattered_flops():
    got = infer_budgets([1e18, 1.02e18, 0.99e18, 4e18, 4.1e18, 3.95e18])
    assert len(got) == 2
    assert got[0] == pytest.approx((1e18 * 1.02e18 * 0.99e18) ** (1 / 3))
    assert got[1] == pytest.approx(4.016e18, rel=0.01)


def test_cli_prints_the_law_and_the_prediction(tmp_path, capsys):
    csv_path = write_results(tmp_path / "results.csv")
    cfg = write_config(tmp_path, results=str(csv_path), bootstrap=10)
    out = tmp_path / "fit"
    assert main(["scaling", "isoflop", cfg, f"out={out}", "predict_flops=1e22"]) == 0
    text = capsys.readouterr().out
    assert "a=0.5000" in text and "b=0.0500" in text
    assert "at C=1e+22 FLOPs: N_opt=100.00B" in text
    assert "L_opt=0.7943" in text
    assert (out / "isoflop.json").is_file() and (out / "isoflop.png").is_file()


@pytest.mark.parametrize("settings, overrides, message", [
    ({"results": "missing.csv"}, [], "missing.csv: results file not found"),
    ({"results": "RESULTS"}, ["size=N"], "missing column(s) N "),
    ({"results": "BAD"}, [], "bad.csv:3: column loss: expected a finite number, got 'nan?'"),
    ({"results": "RESULTS"}, ["holdout_flops=1e21"], "holdout_flops trains a run"),
    ({"results": "RESULTS"}, ["flops=1e18"], "need 2 or more budgets"),
    ({"results": "RESULTS", "bootstrapp": 3}, [], "bootstrapp: unknown key"),
    ({"flops": [1e8, 2e8], "holdout_flops": 4e8}, [], "depths: need 3 or more depths"),
    ({"depths": [1, 2, 3], "flops": [1e8, 2e8]}, [], "holdout_flops: required"),
    ({"depths": [1, 2, 3], "flops": [1e8, 2e8], "holdout_flops": 1e8}, [], "must be above every fitted budget"),
])
def test_bad_input_exits_2_naming_the_key(tmp_path, capsys, settings, overrides, message):
    good = write_results(tmp_path / "results.csv")
    bad = tmp_path / "bad.csv"
    lines = good.read_text().splitlines()
    lines[2] = lines[2].rsplit(",", 1)[0] + ",nan?"
    bad.write_text("\n".join(lines) + "\n")
    paths = {"RESULTS": str(good), "BAD": str(bad), "missing.csv": str(tmp_path / "missing.csv")}
    settings = {k: paths.get(v, v) if isinstance(v, str) else v for k, v in settings.items()}
    cfg = write_config(tmp_path, out=str(tmp_path / "o"), **settings)
    assert main(["scaling", "isoflop", cfg, *overrides]) == 2
    err = capsys.readouterr().err
    assert "lmforge scaling isoflop: error:" in err and message in err
    assert not (tmp_path / "o" / "isoflop.json").exists()


def test_the_recipe_stage_takes_the_same_config_from_a_results_file(tmp_path):
    from lmforge.recipes import runner

    csv_path = write_results(tmp_path / "results.csv")
    recipe = tmp_path / "r.yaml"
    recipe.write_text(yaml.safe_dump({"name": "iso", "stages": {"iso": {
        "kind": "scaling_isoflop", "results": str(csv_path), "predict_flops": 1e22, "bootstrap": 0}}}))
    rec = runner.run_recipe(runner.load_recipe(recipe, out=str(tmp_path / "run")), log=lambda m: None,
                            report=False)["iso"]
    assert rec["summary"]["held_out"] is None and rec["output"] == str(tmp_path / "run" / "iso" / "isoflop.json")
    assert rec["summary"]["law"]["a"] == pytest.approx(0.5, abs=1e-9)
    assert rec["summary"]["headline"]["at 1e+22 FLOPs: N_opt, L_opt"].startswith("100.00B [100.00B, 100.00B], 0.7943")
