"""The fuzz suite's shared inputs (built once) and its summary line: cases per verb and the
count of tracebacks, partial outputs, silent drops and unclear errors."""

from __future__ import annotations

import tempfile
from collections import Counter

import pytest

from tests.fuzz.runner import PARTIAL, SILENT, TRACEBACK, UNCLEAR
from tests.fuzz.workspace import Workspace, build

_RESULTS: Counter = Counter()


@pytest.fixture(scope="session")
def workspace(tmp_path_factory) -> Workspace:
    return build(tmp_path_factory.mktemp("fuzz-ws"))


@pytest.fixture(scope="session")
def readonly(tmp_path_factory) -> str:
    """A folder nothing can be written into: mode 0555, or for root (who writes anywhere) /proc."""
    d = tmp_path_factory.mktemp("readonly")
    d.chmod(0o555)
    try:
        tempfile.TemporaryFile(dir=d).close()
    except OSError:
        return str(d)
    return "/proc"


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    if report.when != "call" or "case" not in getattr(item, "funcargs", {}):
        return
    _RESULTS["cases"] += 1
    if hasattr(report, "wasxfail"):
        _RESULTS["known"] += 1
    crash = getattr(report.longrepr, "reprcrash", None)
    first = crash.message.split("--- output:")[0] if crash is not None and report.failed else ""
    for kind in (TRACEBACK, PARTIAL, SILENT, UNCLEAR):
        _RESULTS[kind] += f"{kind}:" in first


def pytest_terminal_summary(terminalreporter):
    if _RESULTS["cases"]:
        r = _RESULTS
        terminalreporter.write_line(
            f"fuzz: {r['cases']} cases run: {r[TRACEBACK]} tracebacks, {r[PARTIAL]} partial outputs, "
            f"{r[SILENT]} silent drops, {r[UNCLEAR]} unclear errors; {r['known']} known failures owned "
            "elsewhere run as xfail (python -m tests.fuzz.count: cases per verb)")


