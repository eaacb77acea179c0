"""llama.cpp agreement checks, run only by `make check-llamacpp`, which builds llama-cpp-python
from its sdist once (a wheel cached in .cache/wheels) and sets LMFORGE_LLAMACPP=1. `make test`
does not collect them, so it stays quick and needs no C++ toolchain. Under the make target a
missing or broken llama_cpp is an error, never a skip."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

if os.environ.get("LMFORGE_LLAMACPP") != "1":
    collect_ignore_glob = ["test_*.py"]

REPORT = Path("runs/check-llamacpp/report.json")


@pytest.fixture(scope="session")
def report():
    """Measured numbers, by check; written to runs/check-llamacpp/report.json and printed."""
    results: dict = {}
    yield results
    REPORT.parent.mkdir(parents=True, exist_ok=True)
    tmp = REPORT.with_suffix(".tmp")
    tmp.write_text(json.dumps(results, indent=2, ensure_ascii=False), encoding="utf-8")
    os.replace(tmp, REPORT)
    print(f"\nllama.cpp agreement ({REPORT}):\n" + json.dumps(results, indent=2, ensure_ascii=False))
