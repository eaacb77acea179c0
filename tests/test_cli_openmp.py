"""The CLI bounds libgomp's spin-wait before torch loads (two jobs on shared cores: docs/training.md)."""

import os
import subprocess
import sys

PROBE = """
import os, sys
from lmforge import cli
loaded_before = "torch" in sys.modules
try:
    cli.main(["--help"])
except SystemExit:
    pass
print(os.environ.get("GOMP_SPINCOUNT"), loaded_before, "torch" in sys.modules)
"""


def _probe(env_extra: dict[str, str]) -> list[str]:
    env = {k: v for k, v in os.environ.items() if k != "GOMP_SPINCOUNT"} | env_extra
    out = subprocess.run([sys.executable, "-c", PROBE], env=env, capture_output=True, text=True, check=True)
    return out.stdout.split()[-3:]


def test_cli_sets_the_spin_count_before_torch_loads():
    value, torch_before_main, torch_after_main = _probe({})
    assert value == "10000"
    assert torch_before_main == "False" and torch_after_main == "True"


def test_a_users_spin_count_wins():
    assert _probe({"GOMP_SPINCOUNT": "5"})[0] == "5"
