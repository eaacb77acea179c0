"""Data at scale (issue 18): the kept set does not depend on workers or engine, dedup is global
across shards, short Chinese near-duplicates are caught, remote (fsspec) sources stream, and a
killed run leaves its output folder as it was."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time

import fsspec
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import ray

from lmforge.data.dedup import duplicate_flags
from lmforge.data.ops import CleanConfig, run_clean
from lmforge.data.pipeline import RunOptions, process_sources


def _perturb(text: str, k: int, rng: random.Random) -> str:
    chars = list(text)
    for i in rng.sample(range(len(chars)), k):
        chars[i] = rng.choice("的了是在我你他们这那")
    return "".join(chars)


def _kept(out) -> dict[str, list[str]]:
    return {p.stem: [json.loads(x)["text"] for x in p.read_text("utf-8").splitlines()]
            for p in sorted(out.glob("*.jsonl"))}


@pytest.fixture
def planted(real_docs):
    """Two sources; near-duplicates of source a's documents planted in source b (another shard)."""
    rng = random.Random(1)
    a = [d for d in real_docs["zh"] + real_docs["en"] if len(d) > 300][:60]
    b = [_perturb(d, max(1, len(d) // 100), rng) for d in a[:20]] + real_docs["en"][-30:]
    return {"a": a, "b": b}


def test_global_dedup_across_shards_and_workers(planted, tmp_path):
    report = process_sources(planted, tmp_path / "out", run=RunOptions(workers=2))
    kept = _kept(tmp_path / "out")
    assert kept["a"][:20] == [t for t in kept["a"] if t in kept["a"][:20]]  # originals kept (first)
    assert report["sources"]["b"]["duplicates"] == 20 and report["dedup"]["near_duplicates"] == 20
    assert report["sources"]["a"]["duplicates"] == 0


@pytest.mark.slow
def test_kept_set_identical_for_1_and_2_workers_and_ray(planted, tmp_path):
    runs = {"w1": RunOptions(workers=1), "w2": RunOptions(workers=2), "ray": RunOptions("ray", 2)}
    kept = {}
    try:
        for name, run in runs.items():
            process_sources(planted, tmp_path / name, run=run)
            kept[name] = _kept(tmp_path / name)
    finally:
        ray.shutdown()
    assert kept["w1"] == kept["w2"] == kept["ray"]
    assert len(kept["w1"]["b"]) == 30  # the 20 planted near-duplicates are gone


def test_short_chinese_posts_with_three_changed_characters_are_duplicates(real_docs):
    """Item 5: a 100-character post with 2-3 characters changed is a duplicate at the defaults,
    while distinct real documents (and 100-character excerpts of them) are all kept."""
    rng = random.Random(0)
    posts = list(dict.fromkeys(d[:100] for d in real_docs["zh"] if len(d) >= 100))[:100]
    assert len(posts) >= 50
    copies = [_perturb(p, 2 + i % 2, rng) for i, p in enumerate(posts)]
    distinct = posts + [d for d in real_docs["en"] + real_docs["zh"] if len(d) > 300]
    is_exact, is_near = duplicate_flags(distinct + copies)
    found = (is_exact | is_near)[len(distinct):].mean()
    false_pos = (is_exact | is_near)[:len(distinct)].sum()
    assert found >= 0.98 and false_pos == 0, (found, false_pos)


def test_fsspec_sources_memory_and_file_urls(tmp_path, real_docs):
    docs = real_docs["zh"][:15] + real_docs["en"][:15]
    fs = fsspec.filesystem("memory")
    with fs.open("/corpus/web.jsonl", "wb") as f:
        f.write("".join(json.dumps({"text": t}, ensure_ascii=False) + "\n" for t in docs[:20]).encode())
    with fs.open("/corpus/books.parquet", "wb") as f:
        pq.write_table(pa.table({"body": docs[20:]}), f)
    pq.write_table(pa.table({"body": docs[20:]}), tmp_path / "books.parquet")
    cfg = CleanConfig(input=["memory://corpus/web.jsonl"], out=str(tmp_path / "a"), steps=[])
    assert _kept(run_clean(cfg).out)["web"] == docs[:20]
    for url in ("memory://corpus/*.parquet", f"file://{tmp_path}/books.parquet"):
        cfg = CleanConfig(input=[url], field="body", out=str(tmp_path / "b"), steps=[])
        assert _kept(run_clean(cfg).out)["books"] == docs[20:]
    with pytest.raises(ValueError, match="memory://nothing/here.jsonl: no such file"):
        CleanConfig(input=["memory://nothing/here.jsonl"], out=str(tmp_path / "c"))


def _temps(folder):
    return sorted(p.name for p in folder.iterdir() if ".tmp-" in p.name)


@pytest.mark.slow
def test_sigkilled_clean_leaves_previous_output(tmp_path, real_docs):
    raw = tmp_path / "raw.jsonl"
    rng = random.Random(0)
    pool = real_docs["zh"] + real_docs["en"]
    raw.write_text("".join(json.dumps({"text": _perturb(rng.choice(pool), 5, rng) if len(pool) else ""},
                                      ensure_ascii=False) + "\n" for _ in range(1500)), encoding="utf-8")
    out = tmp_path / "out"
    small = tmp_path / "small.jsonl"
    small.write_text("".join(json.dumps({"text": t}, ensure_ascii=False) + "\n" for t in pool[:10]), "utf-8")
    cmd = [sys.executable, "-m", "lmforge", "data", "clean", "--out", str(out), "--workers", "1"]
    subprocess.run(cmd + ["--input", str(small)], check=True, capture_output=True)
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    proc = subprocess.Popen(cmd + ["--input", str(raw)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)
    deadline = time.time() + 120
    while not any((tmp_path / t / ".parts").is_dir() for t in _temps(tmp_path)):
        assert proc.poll() is None and time.time() < deadline, "the run ended before it could be killed"
        time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before
    subprocess.run(cmd + ["--input", str(small)], check=True, capture_output=True)
    assert _temps(tmp_path) == []  # the killed run's temp folder is cleared by the next run


@pytest.mark.slow
def test_ray_workers_read_files_and_urls_with_skips_counted(tmp_path, real_docs):
    docs = real_docs["zh"][:10] + real_docs["en"][:10]
    raw = tmp_path / "raw"
    raw.mkdir()
    lines = [json.dumps({"text": t}, ensure_ascii=False) for t in docs]
    (raw / "web.1.jsonl").write_text("\n".join(lines[:10] + ["{broken"]) + "\n", encoding="utf-8")
    (raw / "web.2.jsonl").write_text("\n".join(lines[10:] + lines[:3]) + "\n", encoding="utf-8")
    (tmp_path / "books.jsonl").write_text("\n".join(lines[::-1]) + "\n", encoding="utf-8")
    kept = {}
    for engine in ("local", "ray"):  # (a memory:// file exists in this process only: Ray's workers read a file://)
        cfg = CleanConfig(input=[str(raw), f"file://{tmp_path}/books.jsonl"], out=str(tmp_path / engine), engine=engine,
                          workers=2, steps=[])
        try:
            report = run_clean(cfg).report
        finally:
            ray.shutdown()
        kept[engine] = _kept(tmp_path / engine)
        assert report["sources"]["web"]["records_skipped"] == 1 and report["skipped"]["web"]["records"] == 23
    assert kept["local"] == kept["ray"] and kept["local"]["web"] == docs and kept["local"]["books"] == []
