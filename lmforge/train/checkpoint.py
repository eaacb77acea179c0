"""Training checkpoints: model folder + trainer state, written atomically, last K kept."""

from __future__ import annotations

import random
import re
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import torch

from lmforge.model.io import atomic_dir, read_weights, save_model
from lmforge.model.transformer import CausalLM

STATE_FILE = "trainer_state.pt"
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
             if (m := _STEP_DIR.match(p.name)) and (p / STATE_FILE).is_file()]
    return [p for _, p in sorted(found)]


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
        torch.save(state, tmp / STATE_FILE)
    for old in checkpoints(run_dir)[:-keep_last]:
        shutil.rmtree(old, ignore_errors=True)
    for stale in (Path(run_dir) / "checkpoints").glob(".step-*"):  # temp dirs of killed writes
        shutil.rmtree(stale, ignore_errors=True)
    return out


def load_checkpoint(path: Path) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    weights = read_weights(path / "model")
    state = torch.load(path / STATE_FILE, map_location="cpu", weights_only=False)
    return weights, state
