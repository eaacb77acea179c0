"""The one model loader: model + tokenizer + metadata from a folder, on a device, in a dtype.

Used by generate, chat, serve, eval, select and the recipe stages. A device that is not there
(`cuda` without a GPU) and a folder without a tokenizer are user errors that say so."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import torch

from lmforge.errors import UserError
from lmforge.model.config import ModelConfig
from lmforge.model.finite import check_finite
from lmforge.model.io import load_model, read_json
from lmforge.model.transformer import CausalLM
from lmforge.tokenizer.chat_template import END_OF_TURN
from lmforge.tokenizer.core import Tokenizer

DType = Literal["auto", "fp32", "bf16", "fp16"]
DTYPES = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}
DTYPE_ALIASES = {"float32": "fp32", "bfloat16": "bf16", "float16": "fp16"}
DEVICE_HELP = "cpu, cuda, cuda:1, mps"
DTYPE_HELP = "auto (bf16 on CUDA, fp32 elsewhere), fp32, bf16, fp16"


@dataclass
class Loaded:
    """A model folder ready for inference."""

    model: CausalLM
    tokenizer: Tokenizer
    meta: dict[str, Any]  # lmforge.json (version, model config, lineage); {} for other tools' folders
    folder: Path

    @property
    def device(self) -> torch.device:
        return next(self.model.parameters()).device


def resolve_device(device: str) -> torch.device:
    """`device` as a torch device, or a UserError when this machine does not have it."""
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError):
        raise UserError(f"--device {device!r}: not a device; use {DEVICE_HELP}") from None
    if dev.type == "cuda":
        if not torch.cuda.is_available():
            raise UserError(f"--device {device}: CUDA is not available on this machine (use --device cpu)")
        if dev.index is not None and dev.index >= torch.cuda.device_count():
            raise UserError(f"--device {device}: this machine has {torch.cuda.device_count()} CUDA device(s)")
    elif dev.type == "mps" and not torch.backends.mps.is_available():
        raise UserError(f"--device {device}: MPS is not available on this machine (use --device cpu)")
    elif dev.type not in ("cpu", "cuda", "mps"):
        raise UserError(f"--device {device!r}: not supported; use {DEVICE_HELP}")
    return dev


def resolve_dtype(dtype: str, device: torch.device) -> torch.dtype:
    """`auto` is bf16 on CUDA and fp32 elsewhere; float32/bfloat16/float16 are accepted too."""
    name = DTYPE_ALIASES.get(dtype, dtype)
    if name == "auto":
        return torch.bfloat16 if device.type == "cuda" else torch.float32
    if name not in DTYPES:
        raise UserError(f"--dtype {dtype!r}: choose {DTYPE_HELP}")
    return DTYPES[name]


def load_tokenizer(folder: str | Path) -> Tokenizer:
    """The folder's own tokenizer; a folder without one is an error (no silent byte fallback)."""
    folder = Path(folder)
    if not (folder / "tokenizer.json").is_file():
        raise UserError(f"{folder}: no tokenizer.json; a model folder needs its tokenizer for "
                        "inference (save the model with one, or copy tokenizer.json and "
                        "tokenizer_config.json in)")
    return Tokenizer.from_dir(folder)


def read_meta(folder: str | Path) -> dict[str, Any]:
    path = Path(folder) / "lmforge.json"
    return read_json(path) if path.is_file() else {}


def load_for_inference(folder: str | Path, device: str = "cpu", dtype: str = "auto") -> Loaded:
    """Model (in eval mode, on `device`, in `dtype`), tokenizer and metadata of a model folder.
    Checks the device and the tokenizer before reading any weights."""
    dev = resolve_device(device)
    torch_dtype = resolve_dtype(dtype, dev)
    tok = load_tokenizer(folder)
    model = load_model(folder, device=dev, dtype=torch_dtype)
    check_finite(model.state_dict().items(), folder)
    return Loaded(model=model, tokenizer=tok, meta=read_meta(folder), folder=Path(folder))


def stop_token_ids(tokenizer: Tokenizer, model_config: ModelConfig) -> tuple[int, ...]:
    """EOS (tokenizer's and config's) and every chat template's end-of-turn token."""
    ids = {tokenizer.eos_id, model_config.eos_token_id}
    ids |= {tokenizer.token_id(t) for t in END_OF_TURN.values() if t}
    return tuple(sorted(i for i in ids if i is not None))
