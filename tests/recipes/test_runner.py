from __future__ import annotations

import json

import pytest

from lmforge.config import ConfigError
from lmforge.recipes import runner


@pytest.fixture
def counting_kinds(monkeypatch):
    calls = []

    class WriteParams(runner.StageParams):
        text: str = ""
        input: str | None = None
        fail: bool = False

    def write(params, ctx):
        calls.append(ctx.name)
        if params.fail:
            raise RuntimeError("killed")
        path = ctx.out_dir / "out.txt"
        text = (open(params.input).read() if params.input else "") + params.text
        path.write_text(text)
        return str(path), {"headline": {"chars": len(text)}, "chars": len(text)}

    monkeypatch.setitem(runner.STAGE_KINDS, "write", (WriteParams, write))
    return calls


def _recipe(tmp_path, body: str):
    p = tmp_path / "r.yaml"
    p.write_text(body)
    return p


BODY = """
name: t
scale: tiny
scales:
  tiny: {stages.a.text: "x"}
  real: {stages.a.text: "xxxxxxxx"}
stages:
  a: {kind: write, text: "unset"}
  b: {kind: write, input: "@a", text: "y"}
"""


def test_stages_chain_skip_and_resume(tmp_path, counting_kinds):
    recipe = runner.load_recipe(_recipe(tmp_path, BODY), out=str(tmp_path / "run"))
    records = runner.run_recipe(recipe, log=lambda m: None)
    assert open(records["b"]["output"]).read() == "xy"
    assert counting_kinds == ["a", "b"]
    runner.run_recipe(recipe, log=lambda m: None)  # everything complete: nothing reruns
    assert counting_kinds == ["a", "b"]
    (tmp_path / "run" / "b" / "stage.json").unlink()  # b was killed before finishing
    runner.run_recipe(recipe, log=lambda m: None)
    assert counting_kinds == ["a", "b", "b"]
    report = (tmp_path / "run" / "report.md").read_text()
    assert "Report card" in report and "| b | chars | 2 |" in report


def test_scale_and_overrides(tmp_path, counting_kinds):
    recipe = runner.load_recipe(_recipe(tmp_path, BODY), ["scale=real", "stages.b.text=z"],
                                out=str(tmp_path / "run"))
    records = runner.run_recipe(recipe, log=lambda m: None, report=False)
    assert open(records["b"]["output"]).read() == "xxxxxxxxz"
    saved = json.loads((tmp_path / "run" / "b" / "stage.json").read_text())
    assert saved["summary"]["chars"] == 9


def test_failed_stage_is_not_marked_complete(tmp_path, counting_kinds):
    body = BODY.replace('text: "y"', 'text: "y", fail: true')
    recipe = runner.load_recipe(_recipe(tmp_path, body), out=str(tmp_path / "run"))
    with pytest.raises(RuntimeError):
        runner.run_recipe(recipe, log=lambda m: None)
    assert (tmp_path / "run" / "a" / "stage.json").is_file()
    assert not (tmp_path / "run" / "b" / "stage.json").exists()


@pytest.mark.parametrize("body,msg", [
    ("stages: {a: {kind: nope}}", "unknown kind 'nope'"),
    ("stages: {a: {kind: write, input: '@b'}, b: {kind: write}}", "'@b' does not name an earlier"),
    ("stages: {a: {text: 1}}", "needs a `kind`"),
    ("stagez: {}", "unknown top-level key"),
    ("stages: {a: {kind: write, txt: 'x'}}", "(?s)stages.a.*txt: unknown key"),
    ("stages: {a: {kind: write, fail: maybe}}", "(?s)stages.a.*fail: Input should be a valid boolean"),
    ("scale: huge\nscales: {tiny: {}}\nstages: {a: {kind: write}}", "scale 'huge' not in"),
])
def test_bad_recipes(tmp_path, counting_kinds, body, msg):
    with pytest.raises(ConfigError, match=msg):
        runner.load_recipe(_recipe(tmp_path, body))
