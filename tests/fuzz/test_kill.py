"""SIGKILL during `data pack` and `export gguf` (issue 16): the output holds the previous complete
result or nothing, never a half-written one, and the next run clears the killed run's temp."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Callable

import pytest

from lmforge.export.gguf import GGUFConfig, run_export_gguf
from lmforge.model import build_model, preset, save_model
from lmforge.tokenizer.core import Tokenizer
from lmforge.tokens.packing import PackConfig, run_pack
from tests.fuzz.runner import snapshot

pytestmark = pytest.mark.slow
ENV = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])}


def temps(out: Path) -> list[str]:
    return sorted(p.name for p in out.parent.glob(f".{out.name}.tmp*"))


def kill_during(argv: list[str], started: Callable[[], bool], delay: float) -> bool:
    """Start `lmforge argv`, wait until `started()`, sleep `delay`, SIGKILL. True when the kill
    landed while the run was still going (False: it finished first)."""
    proc = subprocess.Popen([sys.executable, "-m", "lmforge", *argv], env=ENV,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 180
    while not started() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.002)
    time.sleep(delay)
    proc.send_signal(signal.SIGKILL)
    return proc.wait() == -signal.SIGKILL


def _complete_pack(out: Path) -> None:
    manifest = json.loads((out / "manifest.json").read_text())
    for src in manifest["sources"].values():
        for f in src["train"] + src["val"]:
            assert (out / f).is_file(), f


def _write_corpus(path: Path, docs: int) -> Path:
    rng = random.Random(0)
    words = ["river", "mountain", "数据", "模型", "spring", "weather", "language", "训练", "token", "garden"]
    with path.open("w", encoding="utf-8") as f:
        for _ in range(docs):
            f.write(json.dumps({"text": " ".join(rng.choice(words) for _ in range(200))}, ensure_ascii=False) + "\n")
    return path


def test_kill_during_data_pack(workspace, tmp_path):
    tok, out = workspace.values["tok"], tmp_path / "packed"
    big = _write_corpus(tmp_path / "big.jsonl", 8_000)
    argv = ["data", "pack", "--input", str(big), "--tokenizer", tok, "--out", str(out),
            "--shard-tokens", "20000", "--workers", "1"]
    busy = lambda: bool(temps(out))  # noqa: E731 -- the run has started writing
    assert kill_during(argv, busy, 0.3), "the pack finished before the kill"
    assert not out.exists()  # nothing before, nothing after
    run_pack(PackConfig(input=[workspace.values["good"]], tokenizer=tok, out=str(out), workers=1))
    previous = snapshot(out)
    for delay in (0.0, 0.5):
        killed = kill_during(argv, busy, delay)
        if killed:
            assert snapshot(out) == previous, f"kill after {delay} s changed the packed folder"
        else:
            _complete_pack(out)
            previous = snapshot(out)
    run_pack(PackConfig(input=[workspace.values["good"]], tokenizer=tok, out=str(out), workers=1))
    _complete_pack(out)
    assert temps(out) == []  # the next run cleared the killed runs' temp folders


@pytest.fixture(scope="module")
def big_model(workspace, tmp_path_factory) -> Path:
    """About 25M parameters: its f32 GGUF takes long enough to write that a kill lands mid-write."""
    tok = Tokenizer.from_dir(workspace.values["tok"])
    cfg = preset("tiny", vocab_size=tok.vocab_size, hidden_size=512, intermediate_size=1408,
                 num_hidden_layers=8, num_attention_heads=8, num_key_value_heads=4,
                 bos_token_id=tok.bos_id, eos_token_id=tok.eos_id)
    return save_model(build_model(cfg, seed=0), tmp_path_factory.mktemp("big") / "model",
                      created_by="test", copy_from=workspace.values["tok"])


def test_kill_during_export_gguf(big_model, workspace, tmp_path):
    out = tmp_path / "model.gguf"
    argv = ["export", "gguf", "--model", str(big_model), "--out", str(out), "--type", "f32"]
    busy = lambda: bool(temps(out))  # noqa: E731
    assert kill_during(argv, busy, 0.0), "the export finished before the kill"
    assert not out.exists()
    out.write_bytes(b"GGUF previous complete export")
    landed = 0
    for delay in (0.0, 0.1):
        killed = kill_during(argv, busy, delay)
        landed += killed
        if killed:
            assert out.read_bytes() == b"GGUF previous complete export", f"kill after {delay} s"
        else:
            assert out.read_bytes()[:4] == b"GGUF" and out.stat().st_size > 10**7
    assert landed >= 1
    run_export_gguf(GGUFConfig(model=str(big_model), out=str(out), type="f32"))
    assert out.stat().st_size > 10**7 and temps(out) == []
