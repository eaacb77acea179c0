"""When the runner skips, resumes or restarts a stage: a rebuilt upstream stage reruns the stages
after it (in a later run too), an untouched recipe skips everything, a killed unchanged stage
resumes from its own files, and a killed stage whose settings changed starts clean."""

from __future__ import annotations

import json

import pytest

from lmforge.recipes import runner


class Kill(Exception):
    pass


@pytest.fixture
def trainer_kind(monkeypatch):
    """A stand-in training stage: `steps` rows in metrics.jsonl, resuming after the rows already
    there (as the trainer resumes from its checkpoint); `kill_at` (set by the test, not the
    recipe) stops it after that many rows. `calls` lists (stage, first step it ran)."""
    state = {"calls": [], "kill_at": None}

    class TrainParams(runner.StageParams):
        steps: int = 4
        lr: float = 0.1
        input: str | None = None

    def train(params, ctx):
        metrics = ctx.out_dir / "metrics.jsonl"
        rows = [json.loads(r) for r in metrics.read_text().splitlines()] if metrics.exists() else []
        start = len(rows)
        state["calls"].append((ctx.name, start))
        base = open(params.input).read() if params.input else ""
        with metrics.open("a") as f:
            for step in range(start, params.steps):
                if state["kill_at"] is not None and step == state["kill_at"]:
                    raise Kill()
                f.write(json.dumps({"step": step, "lr": params.lr}) + "\n")
                f.flush()
        out = ctx.out_dir / "out.txt"
        out.write_text(base + f"[{ctx.name} steps={params.steps} lr={params.lr}]")
        return str(out), {"steps": params.steps}

    monkeypatch.setitem(runner.STAGE_KINDS, "train_standin", (TrainParams, train))
    return state


BODY = """
name: t
stages:
  a: {kind: train_standin, steps: 2}
  b: {kind: train_standin, input: "@a", steps: 4}
  c: {kind: train_standin, input: "@b", steps: 3}
"""


def _run(tmp_path, overrides=(), log=None):
    p = tmp_path / "r.yaml"
    p.write_text(BODY)
    recipe = runner.load_recipe(p, list(overrides), out=str(tmp_path / "run"))
    return runner.run_recipe(recipe, log=(log.append if log is not None else lambda m: None), report=False)


def _metrics(tmp_path, stage):
    return [json.loads(r) for r in (tmp_path / "run" / stage / "metrics.jsonl").read_text().splitlines()]


def test_untouched_recipe_skips_everything_on_rerun(tmp_path, trainer_kind):
    _run(tmp_path)
    assert trainer_kind["calls"] == [("a", 0), ("b", 0), ("c", 0)]
    log = []
    records = _run(tmp_path, log=log)
    assert trainer_kind["calls"] == [("a", 0), ("b", 0), ("c", 0)]
    assert sum("complete, skipped" in m for m in log) == 3
    assert open(records["c"]["output"]).read() == "[a steps=2 lr=0.1][b steps=4 lr=0.1][c steps=3 lr=0.1]"


def test_a_rebuilt_upstream_reruns_downstream_in_a_later_run(tmp_path, trainer_kind):
    _run(tmp_path)

    def killed_after_a(message):  # the run dies once a is rebuilt, before b starts
        if "a: done" in message:
            raise Kill()
    with pytest.raises(Kill):
        _run(tmp_path, ["stages.a.steps=3"], log=type("L", (), {"append": staticmethod(killed_after_a)}))
    assert json.loads((tmp_path / "run" / "a" / "stage.json").read_text())["spec"]["steps"] == 3
    calls = len(trainer_kind["calls"])
    log = []
    records = _run(tmp_path, ["stages.a.steps=3"], log=log)
    # b and c still hold complete records of the same spec, but a was rebuilt: both rerun, clean
    assert trainer_kind["calls"][calls:] == [("b", 0), ("c", 0)]
    assert open(records["c"]["output"]).read().startswith("[a steps=3 lr=0.1][b steps=4")
    assert [r["step"] for r in _metrics(tmp_path, "b")] == [0, 1, 2, 3]
    assert any("b: earlier stage(s) a were rebuilt" in m for m in log)
    assert records["c"]["inputs"] == {"a": records["a"]["build"], "b": records["b"]["build"]}


def test_a_killed_unchanged_stage_resumes(tmp_path, trainer_kind):
    trainer_kind["kill_at"] = 2
    with pytest.raises(Kill):
        _run(tmp_path)  # a finishes (2 steps), b dies after steps 0 and 1
    trainer_kind["kill_at"] = None
    log = []
    _run(tmp_path, log=log)
    assert trainer_kind["calls"] == [("a", 0), ("b", 0), ("b", 2), ("c", 0)]
    assert [r["step"] for r in _metrics(tmp_path, "b")] == [0, 1, 2, 3]
    assert any("b: unchanged since it was stopped: resuming" in m for m in log)
    assert any("a: complete, skipped" in m for m in log)


def test_a_killed_stage_whose_settings_changed_starts_clean(tmp_path, trainer_kind):
    trainer_kind["kill_at"] = 2
    with pytest.raises(Kill):
        _run(tmp_path)
    trainer_kind["kill_at"] = None
    log = []
    _run(tmp_path, ["stages.b.lr=0.05", "stages.b.steps=3"], log=log)
    assert trainer_kind["calls"][-2:] == [("b", 0), ("c", 0)]
    # only the new run's rows: none of the killed run's lr=0.1 rows are left to spoil a plot
    assert _metrics(tmp_path, "b") == [{"step": s, "lr": 0.05} for s in range(3)]
    msg = next(m for m in log if "b: its settings changed" in m)
    assert "lr: (default) -> 0.05" in msg and "steps: 4 -> 3" in msg and "starting clean" in msg


def test_a_changed_complete_stage_reruns_clean_and_so_do_the_later_ones(tmp_path, trainer_kind):
    _run(tmp_path)
    _run(tmp_path, ["stages.b.steps=2"])
    assert trainer_kind["calls"][3:] == [("b", 0), ("c", 0)]
    assert [r["step"] for r in _metrics(tmp_path, "b")] == [0, 1]
    assert [r["step"] for r in _metrics(tmp_path, "c")] == [0, 1, 2]  # not 6 rows


def test_records_from_before_build_ids_skip_until_an_earlier_stage_rebuilds(tmp_path, trainer_kind):
    _run(tmp_path)
    for stage in "abc":  # as an older lmforge wrote them: no build id, no inputs
        path = tmp_path / "run" / stage / "stage.json"
        record = json.loads(path.read_text())
        path.write_text(json.dumps({k: v for k, v in record.items() if k not in ("build", "inputs")}))
    _run(tmp_path)
    assert len(trainer_kind["calls"]) == 3  # all skipped
    _run(tmp_path, ["stages.b.steps=2"])
    assert trainer_kind["calls"][3:] == [("b", 0), ("c", 0)]  # c's old record does not know b's build
