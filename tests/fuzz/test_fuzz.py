"""The fuzz suite (issue 16): every CLI verb fed malformed files, configs, model folders,
arguments and output paths. Each case must end in exit code 2 with a message naming the file,
line, key or field, print no traceback, and leave its folder exactly as it was (no partial
output, no temp file, no replaced file); the counted-skip cases exit 0 and name the count."""

from __future__ import annotations

import pytest
import torch

from tests.fuzz import cases_model
from tests.fuzz.cases import CASES, cli_verbs, per_verb
from tests.fuzz.known import KNOWN
from tests.fuzz.runner import fill, judge, run_main, snapshot, write_files


def _param(case):
    marks = [pytest.mark.slow] if case.slow else []
    if cases_model.NO_GPU in case.name:
        marks.append(pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has a GPU"))
    if case.id in KNOWN:
        marks.append(pytest.mark.xfail(strict=False, reason=KNOWN[case.id]))
    return pytest.param(case, id=case.id, marks=marks)


@pytest.fixture(autouse=True)
def _no_server(monkeypatch):
    """A serve case that gets as far as starting the server has failed (and must not block)."""
    def refuse(*a, **k):
        raise AssertionError("the server started")
    monkeypatch.setattr("lmforge.serve.launch.uvicorn.run", refuse)


@pytest.mark.parametrize("case", [_param(c) for c in CASES])
def test_case(case, workspace, readonly, tmp_path, capsys):
    values = {"out": f"{tmp_path}/out", **workspace.values, "tmp": str(tmp_path), "readonly": readonly}
    write_files(case, tmp_path, values)
    before = snapshot(tmp_path)
    outcome = run_main([fill(a, values) for a in case.command()], case.stdin, capsys)
    problems = judge(case, outcome, values, before, snapshot(tmp_path))
    assert not problems, "\n".join(problems) + f"\n--- output:\n{outcome.output[-1500:]}"


def test_every_verb_has_cases():
    counts = per_verb()
    thin = {v: counts.get(v, 0) for v in cli_verbs() if counts.get(v, 0) < 3}
    assert not thin, f"verbs with fewer than 3 fuzz cases: {thin}"


def test_known_failures_are_cases():
    ids = {c.id for c in CASES}
    assert not set(KNOWN) - ids, sorted(set(KNOWN) - ids)


def test_case_ids_unique():
    ids = [c.id for c in CASES]
    assert len(ids) == len(set(ids)), sorted(i for i in ids if ids.count(i) > 1)
