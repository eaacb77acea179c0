"""benchmarks/gpu_check.sh runs every step with tiny shapes on CPU and writes its table as JSON."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))
import gpu_check  # noqa: E402


@pytest.mark.slow
def test_gpu_check_tiny_on_cpu(tmp_path):
    proc = subprocess.run(["bash", str(ROOT / "benchmarks" / "gpu_check.sh"), str(tmp_path), "--tiny",
                           "--device", "cpu"], capture_output=True, text=True, timeout=900,
                          env={**__import__("os").environ, "PYTHON": sys.executable})
    assert proc.returncode == 0, proc.stderr[-2000:]
    result = json.loads((tmp_path / "gpu_check.json").read_text())
    rows = {r["name"]: r for r in result["steps"]}
    assert len(rows) == 14 and result["environment"]["torch"]
    failed = {n: r["error"] for n, r in rows.items() if not r["ok"]}
    assert not failed
    assert all(r["tokens_per_s"] > 0 for n, r in rows.items() if n.startswith(("train", "serve")))
    assert rows["doc mask = docs alone"]["max_abs_diff"] < 1e-4
    assert rows["eval mc 5-shot"]["questions_per_s"] > 0
    chunked, full = rows["vocab 125,700 chunked loss"], rows["vocab 125,700 full logits"]
    assert chunked["peak_mem_gb"] < full["peak_mem_gb"]
    assert abs(chunked["loss"] - full["loss"]) < 1e-3  # same model, same data, same loss
    assert "FAILED" not in proc.stdout and "tok/s" in proc.stdout


def test_a_failing_step_is_recorded_and_the_run_goes_on():
    def boom():
        raise RuntimeError("out of memory, say")

    row = gpu_check.guarded("x", boom, deadline=float("inf"))
    assert not row["ok"] and "out of memory" in row["error"] and "RuntimeError" in row["traceback"]
    assert gpu_check.guarded("y", lambda: {"tokens_per_s": 1.0}, float("inf"))["ok"]
    assert gpu_check.guarded("z", lambda: {}, deadline=0)["error"].startswith("skipped")
    text = gpu_check.table([row, {"name": "y", "ok": True, "tokens_per_s": 5.0, "mfu": 0.5,
                                  "peak_mem_gb": 1.0, "seconds": 1.0}])
    assert "FAILED: RuntimeError" in text and "50.0%" in text
