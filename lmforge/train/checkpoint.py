"""Training checkpoints: model folder + trainer state, written atomically, last K kept.

The trainer state (optimizer, scheduler, RNG, data position, step) is safetensors + JSON
(`state_file`); nothing in a checkpoint is unpickled, so a checkpoint from another machine
or a shared run folder cannot run code. Old pickled `trainer_state.pt` files are refused.
"""

from __future__ import annotations

import random
import re
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import torch

from lmforge.errors import UserError
from lmforge.files import atomic_dir
from lmforge.model.io import read_weights, save_model
from lmforge.model.transformer import CausalLM
from lmforge.train.state_file import StateFileError, load_state, save_state

STATE_STEM = "trainer_state"  # trainer_state.json + trainer_state.safetensors
STATE_FILE = STATE_STEM + ".json"
LEGACY_STATE_FILE = "trainer_state.pt"  # pickle (lmforge before the safetensors state): refused


class CheckpointError(UserError):
    """A checkpoint that cannot be resumed from; the message names the file and why."""


_STEP_DIR = re.compile(r"^step-(\d+)$")


def rng_state() -> dict[str, Any]:
    state = {"torch": torch.get_rng_state(), "python": random.getstate(),
             "numpy": np.random.get_state()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    torch.set_rng_state(state["torch"])
    random.setstate(state["python"])
    np.random.set_state(state["numpy"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def checkpoints(run_dir: Path) -> list[Path]:
    """Complete checkpoints, oldest first (an interrupted write leaves only a hidden temp dir)."""
    root = Path(run_dir) / "checkpoints"
    if not root.is_dir():
        return []
    found = [(int(m.group(1)), p) for p in root.iterdir()
             if (m := _STEP_DIR.match(p.name)) and _has_state(p)]
    return [p for _, p in sorted(found)]


def _has_state(step_dir: Path) -> bool:
    """Complete: the new state pair, or a legacy pickle (listed so resuming says why it can't)."""
    return (step_dir / STATE_FILE).is_file() or (step_dir / LEGACY_STATE_FILE).is_file()


def unsharded(model: CausalLM, full_state: dict[str, torch.Tensor]) -> CausalLM:
    """A plain CPU copy of an FSDP-sharded model from its gathered full state dict."""
    copy = CausalLM(model.config)
    if model.config.tie_word_embeddings:
        full_state = {k: v for k, v in full_state.items() if k != "lm_head.weight"}
    copy.load_state_dict(full_state, strict=False)
    return copy


def save_checkpoint(run_dir: Path, step: int, model: CausalLM, state: dict[str, Any], keep_last: int,
                    **save_kw: Any) -> Path:
    """`model` is unsharded (see `unsharded`); written atomically, then all but the last K dropped."""
    out = Path(run_dir) / "checkpoints" / f"step-{step:07d}"
    with atomic_dir(out) as tmp:
        save_model(model, tmp / "model", created_by="lmforge training checkpoint", **save_kw)
        save_state(state, tmp / STATE_STEM)
    for old in checkpoints(run_dir)[:-keep_last]:
        shutil.rmtree(old, ignore_errors=True)
    for stale in (Path(run_dir) / "checkpoints").glob(".step-*"):  # temp dirs of killed writes
        shutil.rmtree(stale, ignore_errors=True)
    return out


def load_checkpoint(path: Path) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """Model weights and trainer state of one checkpoint folder; never unpickles anything."""
    path = Path(path)
    if not (path / STATE_FILE).is_file() and (path / LEGACY_STATE_FILE).is_file():
        raise CheckpointError(
            f"{path / LEGACY_STATE_FILE}: this checkpoint has the old pickle format, which can run "
            "arbitrary code when loaded, so lmforge does not read it. Start over with --fresh, or "
            f"continue from its weights with `model: {path / 'model'}` (optimizer and data "
            "position start fresh)")
    try:
        state = load_state(path / STATE_STEM)
    except StateFileError as e:
        raise CheckpointError(f"cannot resume from {path}: {e}") from None
    return read_weights(path / "model"), state
