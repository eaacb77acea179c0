"""Checkpoints never unpickle: a planted payload cannot run, and the error says why (issue 16)."""

from __future__ import annotations

import random
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml

import lmforge
from lmforge.cli import main
from lmforge.model.io import read_weights
from lmforge.train.checkpoint import (LEGACY_STATE_FILE, CheckpointError, checkpoints, load_checkpoint,
                                    rng_state, save_checkpoint, set_rng_state)
from lmforge.train.state_file import load_state, save_state

from .conftest import ENV, read_losses
from .test_distributed import TORCHRUN


class Payload:
    """What an attacker plants: unpickling it runs code (here: writes a marker file)."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return exec, (f"open({str(self.marker)!r}, 'w').write('pwned')",)


def plant_pickle(path: Path, marker: Path) -> None:
    torch.save({"step": 2, "payload": Payload(marker)}, path)


def test_the_planted_payload_is_live(tmp_path):
    """The same bytes run code under the loader lmforge used before (so the tests below can fail)."""
    marker = tmp_path / "marker"
    plant_pickle(tmp_path / "state.pt", marker)
    torch.load(tmp_path / "state.pt", weights_only=False)
    assert marker.read_text() == "pwned"


def _tiny_model(seed: int = 0):
    from lmforge.model import build_model, preset

    return build_model(preset("tiny", vocab_size=64, hidden_size=32, intermediate_size=64,
                              num_hidden_layers=1, num_attention_heads=2, num_key_value_heads=1), seed=seed)


def test_state_round_trips_every_kind(tmp_path):
    state = {"rng": [rng_state(), rng_state()], "step": 7, "big": 2**130, "nan": float("nan"),
             "by_id": {0: torch.arange(3), 1: (0.9, 0.95)}, "__odd": None,
             "bf16": torch.ones(2, 3, dtype=torch.bfloat16), "view": torch.arange(10)[2:5],
             "np": np.int64(5), "arr": np.arange(4, dtype=np.uint32), "empty": torch.empty(0)}
    state["alias"] = state["view"]
    save_state(state, tmp_path / "s")
    back = load_state(tmp_path / "s")
    assert back.keys() == state.keys() and back["step"] == 7 and back["big"] == 2**130
    assert back["nan"] != back["nan"] and back["__odd"] is None
    assert list(back["by_id"]) == [0, 1] and back["by_id"][1] == (0.9, 0.95)
    for key in ("bf16", "view", "alias", "empty"):
        assert back[key].dtype == state[key].dtype and torch.equal(back[key], state[key]), key
    assert type(back["np"]) is np.int64 and back["arr"].dtype == np.uint32
    assert np.array_equal(back["arr"], state["arr"])
    py, npy = back["rng"][1]["python"], back["rng"][1]["numpy"]
    assert py == random.getstate() and isinstance(py[1], tuple)
    assert npy[0] == "MT19937" and np.array_equal(npy[1], np.random.get_state()[1])


def _steps(model, opt, sched, n: int) -> list[float]:
    out = []
    for _ in range(n):
        ids = torch.randint(0, 64, (2, 8))
        loss = torch.nn.functional.cross_entropy(model(ids).flatten(0, 1), ids.flatten())
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
        out.append(float(loss.detach()) + random.random() + float(np.random.rand()))
    return out


def _trainer(model):
    opt = torch.optim.AdamW(model.parameters(), lr=1e-2, betas=(0.9, 0.95))
    return opt, torch.optim.lr_scheduler.LambdaLR(opt, lambda s: 1.0 / (s + 1))


def test_resume_from_saved_state_is_bit_identical(tmp_path):
    """Optimizer, scheduler and every RNG restored from safetensors + JSON continue exactly."""
    torch.manual_seed(0), random.seed(0), np.random.seed(0)
    model = _tiny_model()
    opt, sched = _trainer(model)
    _steps(model, opt, sched, 2)
    state = {"step": 2, "optimizer": opt.state_dict(), "scheduler": sched.state_dict(), "rng": rng_state()}
    path = save_checkpoint(tmp_path, 2, model, state, keep_last=1)
    reference = _steps(model, opt, sched, 3)

    weights, saved = load_checkpoint(path)
    resumed = _tiny_model(seed=1)
    resumed.load_state_dict(weights, strict=False)
    opt2, sched2 = _trainer(resumed)
    opt2.load_state_dict(saved["optimizer"])
    sched2.load_state_dict(saved["scheduler"])
    set_rng_state(saved["rng"])
    assert _steps(resumed, opt2, sched2, 3) == reference
    for (name, a), b in zip(model.state_dict().items(), resumed.state_dict().values()):
        assert torch.equal(a, b), name
    assert sorted(p.name for p in path.iterdir()) == ["model", "trainer_state.json",
                                                      "trainer_state.safetensors"]


def test_an_old_pickle_checkpoint_is_listed_then_refused(tmp_path):
    """Listed, so a resume does not silently start over; refused, so its payload never runs."""
    step = tmp_path / "checkpoints" / "step-0000004"
    step.mkdir(parents=True)
    marker = tmp_path / "marker"
    plant_pickle(step / LEGACY_STATE_FILE, marker)
    assert checkpoints(tmp_path) == [step]
    with pytest.raises(CheckpointError, match="old pickle format, which can run arbitrary code"):
        load_checkpoint(step)
    assert not marker.exists()


def test_only_complete_checkpoints_are_listed(tmp_path):
    """A kill mid-write leaves a hidden temp folder; a step folder needs its trainer_state.json."""
    model = _tiny_model()
    done = save_checkpoint(tmp_path, 4, model, {"step": 4}, keep_last=3)
    root = tmp_path / "checkpoints"
    (root / ".step-0000009.tmp-abc").mkdir()  # killed during the write
    (root / ".step-0000009.tmp-abc" / "trainer_state.safetensors").write_bytes(b"")
    (root / "step-0000008").mkdir()  # tensors only: not a checkpoint
    (root / "step-0000008" / "trainer_state.safetensors").write_bytes(b"")
    assert checkpoints(tmp_path) == [done] and load_checkpoint(done)[1] == {"step": 4}
    save_checkpoint(tmp_path, 6, model, {"step": 6}, keep_last=3)
    assert not (root / ".step-0000009.tmp-abc").exists()  # the next save clears killed writes


def test_a_tampered_state_names_the_file_and_key(tmp_path):
    save_state({"optimizer": {"state": {"w": torch.ones(2)}}}, tmp_path / "trainer_state")
    doc = tmp_path / "trainer_state.json"
    doc.write_text(doc.read_text().replace("/optimizer/state/w", "missing"))
    with pytest.raises(CheckpointError, match=r"trainer_state.json: key /optimizer/state/w: tensor "
                                              r"'missing' is not in the .safetensors file"):
        load_checkpoint(tmp_path)


def test_nothing_in_the_package_unpickles():
    """Every loader in lmforge/ reads safetensors/JSON; no torch.load, pickle or np.load pickles."""
    unsafe = re.compile(r"torch\.load\(|pickle\.loads?\(|allow_pickle=True|weights_only=False")
    hits = [f"{p}:{i}" for p in Path(lmforge.__file__).parent.rglob("*.py")
            for i, line in enumerate(p.read_text(encoding="utf-8").splitlines(), 1) if unsafe.search(line)]
    assert hits == []


@pytest.fixture(scope="module")
def tiny_run_config(packed_dir, tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("secure")
    cfg = {"out": str(root / "run"), "tokenizer": str(packed_dir / "tok"),
           "model": {"preset": "tiny", "hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 1},
           "data": {"path": str(packed_dir / "data")},
           "train": {"max_steps": 2, "save_every": 2, "batch_size": 2, "seq_len": 32, "eval_every": 0,
                     "eval_batches": 1, "lr": 0.01, "schedule": "constant", "warmup_steps": 0}}
    (root / "cfg.yaml").write_text(yaml.safe_dump(cfg))
    return root / "cfg.yaml"


@pytest.fixture(scope="module")
def trained_run(tiny_run_config) -> Path:
    """A real 2-step pretraining run with one checkpoint (step 2), written by the CLI."""
    root = tiny_run_config.parent
    assert main(["pretrain", str(tiny_run_config)]) == 0
    assert [p.name for p in checkpoints(root / "run")] == ["step-0000002"]
    return root


def _plant(step: Path, where: str, marker: Path) -> None:
    if where == "legacy":  # an old-format checkpoint, as a pre-safetensors lmforge wrote it
        for f in step.glob("trainer_state.*"):
            f.unlink()
        plant_pickle(step / LEGACY_STATE_FILE, marker)
    elif where == "beside":  # a pickle beside a valid state: never looked at
        plant_pickle(step / LEGACY_STATE_FILE, marker)
    else:
        plant_pickle(step / f"trainer_state.{where}", marker)


@pytest.mark.parametrize("where,rc,says", [
    ("legacy", 2, "old pickle format, which can run arbitrary code"),
    ("safetensors", 2, "trainer_state.safetensors: not a readable safetensors file"),
    ("json", 2, "trainer_state.json: not a readable trainer-state JSON file"),
    ("beside", 0, "resumed from"),
])
def test_planted_pickle_never_runs_on_resume(trained_run, tmp_path, capsys, where, rc, says):
    """`lmforge pretrain CFG --resume` (the CLI entry point, in this process): exit 2, no traceback."""
    run = tmp_path / "run"
    shutil.copytree(trained_run / "run", run)
    marker = tmp_path / "marker"
    _plant(run / "checkpoints" / "step-0000002", where, marker)
    capsys.readouterr()
    code = main(["pretrain", str(trained_run / "cfg.yaml"), f"out={run}", "train.max_steps=3", "--resume"])
    out, err = capsys.readouterr()
    assert (code, marker.exists()) == (rc, False), err[-2000:]
    assert "Traceback" not in err and says in out + err
    if rc == 0:
        assert sorted(read_losses(run)) == [1, 2, 3]


@pytest.mark.slow
def test_fsdp2_resume_from_the_new_format_is_bit_identical(tiny_run_config, tmp_path):
    """Two FSDP2 processes: 3 steps, checkpoint, resume to 6 == 6 uninterrupted (losses and weights)."""
    fsdp = ["train.distributed=fsdp", "train.save_every=3"]

    def torchrun(out: str, steps: int) -> None:
        r = subprocess.run(TORCHRUN + ["pretrain", str(tiny_run_config), f"out={tmp_path / out}",
                                       f"train.max_steps={steps}", *fsdp], env=ENV, capture_output=True, text=True)
        assert r.returncode == 0, r.stderr[-3000:]

    torchrun("whole", 6)
    torchrun("parts", 3)
    torchrun("parts", 6)
    assert read_losses(tmp_path / "parts") == read_losses(tmp_path / "whole")
    whole, parts = (read_weights(tmp_path / d / "model") for d in ("whole", "parts"))
    assert whole.keys() == parts.keys() and all(torch.equal(whole[k], parts[k]) for k in whole)
