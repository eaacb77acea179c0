"""Run one fuzz case in-process through `lmforge.cli.main` and judge it: exit code, the message
names what it should, no traceback, and (for a refusal) the case's folder left exactly as it was."""

from __future__ import annotations

import hashlib
import io
import re
import signal
import sys
from dataclasses import dataclass
from pathlib import Path

from lmforge.cli import main
from tests.fuzz.case import Case

# the kinds of failure the suite counts (the first word of each failure message)
TRACEBACK, PARTIAL, SILENT, UNCLEAR = "traceback", "partial-output", "silent-drop", "unclear-error"
CASE_SECONDS = 90  # a case that runs longer has started real work it should have refused


class CaseTimeout(Exception):
    pass


@dataclass
class Outcome:
    rc: int
    output: str
    error: BaseException | None  # an exception that escaped main(): a traceback for the user


def fill(text: str, values: dict[str, str]) -> str:
    """Replace {name} for the names in `values` only (YAML/JSON braces stay)."""
    return re.sub(r"\{(\w+)\}", lambda m: values.get(m.group(1), m.group(0)), text)


def write_files(case: Case, tmp: Path, values: dict[str, str]) -> None:
    for name, content in case.files.items():
        path = tmp / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(fill(content, values), encoding="utf-8")


def snapshot(root: Path) -> dict[str, str]:
    """Every path under `root` (hidden ones included) with its content hash."""
    return {str(p.relative_to(root)): "dir" if p.is_dir() else hashlib.sha1(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*"))}


def _alarm(signum, frame):
    raise CaseTimeout(f"still running after {CASE_SECONDS} s")


def run_main(argv: list[str], stdin: bytes | None, capsys) -> Outcome:
    old_stdin, old_handler = sys.stdin, signal.signal(signal.SIGALRM, _alarm)
    sys.stdin = io.TextIOWrapper(io.BytesIO(stdin or b""), encoding="utf-8")
    signal.alarm(CASE_SECONDS)
    error = None
    try:
        rc = main(argv)
    except SystemExit as e:  # argparse's own errors exit 2 with a usage line
        rc = e.code if isinstance(e.code, int) else 1
    except BaseException as e:  # noqa: BLE001 -- any escape is what the suite looks for
        rc, error = -1, e
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old_handler)
        sys.stdin = old_stdin
    out = capsys.readouterr()
    return Outcome(rc, out.out + out.err, error)


def _loose(text: str) -> str:
    return text.replace("-", "_")


def judge(case: Case, outcome: Outcome, values: dict[str, str], before: dict, after: dict) -> list[str]:
    """The failures of one case, each starting with its kind."""
    if outcome.error is not None:
        return [f"{TRACEBACK}: {type(outcome.error).__name__}: {outcome.error}"[:800]]
    problems = []
    if "Traceback (most recent call last)" in outcome.output:
        problems.append(f"{TRACEBACK}: printed a traceback")
    said = _loose(outcome.output)  # a field may be named as --max-new-tokens or max_new_tokens
    missing = [w for w in (fill(e, values) for e in case.expect) if _loose(w) not in said]
    kind = SILENT if case.rc == 0 else UNCLEAR
    if outcome.rc != case.rc:
        problems.append(f"{kind}: exit {outcome.rc}, expected {case.rc}")
    if missing:
        problems.append(f"{kind}: the output does not name {missing}")
    if case.rc != 0 and before != after:
        changed = sorted(set(before.items()) ^ set(after.items()))
        problems.append(f"{PARTIAL}: the folder changed: {[k for k, _ in changed][:8]}")
    return problems
