"""benchmarks/data_clean_dedup.py runs end to end at a tiny size, peer included (datatrove is a
test dependency: a missing peer fails here), and reports what the docs quote."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_benchmark_reports_speed_memory_and_planted_recall_for_lmforge_and_datatrove():
    out = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "data_clean_dedup.py"), "--mb", "0.6",
                          "--shards", "4", "--workers", "2", "--repeats", "2"],
                         capture_output=True, text=True, timeout=300, cwd=ROOT)
    assert out.returncode == 0, out.stderr[-2000:]
    res = json.loads(out.stdout[out.stdout.index("{"):])
    assert 0.6 <= res["MB"] < 0.7 and res["planted"] > 10
    assert res["recall"] >= 0.95 and res["precision"] == 1.0
    assert len(res["clean_dedup_write_MB_per_s"]["runs"]) == 2
    assert res["clean_dedup_write_MB_per_s"]["best"] == max(res["clean_dedup_write_MB_per_s"]["runs"])
    assert {"peak_rss_MB_lmforge", "peak_rss_MB_this_process"} <= res.keys()
    assert res["datatrove"]["recall"] >= 0.8  # the peer found the same planted copies
