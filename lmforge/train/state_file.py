"""Nested training state as safetensors (tensors) + JSON (everything else); nothing is unpickled.

A state is any tree of dicts, lists, tuples, str/int/float/bool/None, torch tensors, numpy
arrays and numpy scalars (optimizer, scheduler, RNG states, data position, step). Tensors and
arrays go to `<name>.safetensors`; the tree goes to `<name>.json` with markers in their place:
    {"__tensor__": key}   {"__ndarray__": key}   {"__tuple__": [...]}
    {"__dict__": [[k, v], ...]}  (a dict with a non-str key or a key starting with "__")
    {"__npscalar__": [dtype, value]}
Loading reads only these two formats, so a planted file can be wrong but never runs code.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from lmforge.errors import UserError

FORMAT = "lmforge-trainer-state/1"
_MARKERS = ("__tensor__", "__ndarray__", "__tuple__", "__dict__", "__npscalar__")


class StateFileError(UserError):
    """A trainer-state file that cannot be read; the message names the file and the key."""


class _Encoder:
    def __init__(self) -> None:
        self.tensors: dict[str, torch.Tensor] = {}
        self._storages: set[int] = set()

    def _store(self, tensor: torch.Tensor, where: str) -> str:
        t = tensor.detach().to("cpu").contiguous()
        ptr = t.untyped_storage().data_ptr()
        if ptr in self._storages or ptr == 0:  # shared or empty storage: safetensors wants its own
            t = t.clone()
        self._storages.add(t.untyped_storage().data_ptr())
        key = where or "."
        while key in self.tensors:
            key += "'"
        self.tensors[key] = t
        return key

    def encode(self, value: Any, where: str) -> Any:
        if value is None or isinstance(value, (bool, int, float, str)):
            return value
        if isinstance(value, torch.Tensor):
            return {"__tensor__": self._store(value, where)}
        if isinstance(value, np.ndarray):
            return {"__ndarray__": self._store(torch.from_numpy(np.ascontiguousarray(value)), where)}
        if isinstance(value, np.generic):
            return {"__npscalar__": [value.dtype.str, value.item()]}
        if isinstance(value, (list, tuple)):
            items = [self.encode(v, f"{where}/{i}") for i, v in enumerate(value)]
            return {"__tuple__": items} if isinstance(value, tuple) else items
        if isinstance(value, dict):
            if all(isinstance(k, str) and not k.startswith("__") for k in value):
                return {k: self.encode(v, f"{where}/{k}") for k, v in value.items()}
            return {"__dict__": [[self.encode(k, f"{where}/key"), self.encode(v, f"{where}/{k}")]
                                 for k, v in value.items()]}
        raise TypeError(f"trainer state at {where or '/'}: cannot store a {type(value).__name__} "
                        "(only tensors, arrays, numbers, strings and containers of them)")


class _Decoder:
    def __init__(self, tensors: dict[str, torch.Tensor], source: Path) -> None:
        self.tensors, self.source = tensors, source

    def fail(self, where: str, what: str) -> StateFileError:
        return StateFileError(f"{self.source}: key {where or '/'}: {what}")

    def tensor(self, key: Any, where: str) -> torch.Tensor:
        if not isinstance(key, str) or key not in self.tensors:
            raise self.fail(where, f"tensor {key!r} is not in the .safetensors file")
        return self.tensors[key]

    def decode(self, value: Any, where: str) -> Any:
        if isinstance(value, list):
            return [self.decode(v, f"{where}/{i}") for i, v in enumerate(value)]
        if not isinstance(value, dict):
            return value
        marker = next((k for k in value if k.startswith("__")), None)
        if marker is None:
            return {k: self.decode(v, f"{where}/{k}") for k, v in value.items()}
        if len(value) != 1 or marker not in _MARKERS:
            raise self.fail(where, f"unknown entry {sorted(value)}")
        return self._marked(marker, value[marker], where)

    def _marked(self, marker: str, body: Any, where: str) -> Any:
        if marker == "__tensor__":
            return self.tensor(body, where)
        if marker == "__ndarray__":
            return self.tensor(body, where).numpy()
        if not isinstance(body, list):
            raise self.fail(where, f"{marker} must hold a list")
        if marker == "__tuple__":
            return tuple(self.decode(v, f"{where}/{i}") for i, v in enumerate(body))
        if marker == "__dict__":
            if not all(isinstance(p, list) and len(p) == 2 for p in body):
                raise self.fail(where, "__dict__ must hold [key, value] pairs")
            return {self.decode(k, f"{where}/key"): self.decode(v, f"{where}/{k}") for k, v in body}
        try:
            dtype, item = body
            return np.dtype(dtype).type(item)
        except (TypeError, ValueError) as e:
            raise self.fail(where, f"bad numpy scalar {body!r}: {e}") from None


def save_state(state: Any, stem: Path) -> None:
    """Write `stem`.json and `stem`.safetensors (the caller makes the pair atomic)."""
    enc = _Encoder()
    tree = enc.encode(state, "")
    save_file(enc.tensors, str(stem.with_suffix(".safetensors")))
    stem.with_suffix(".json").write_text(json.dumps({"format": FORMAT, "state": tree}))


def load_state(stem: Path) -> Any:
    """Read what `save_state` wrote; any damage is a StateFileError naming the file and key."""
    doc_path, tensor_path = stem.with_suffix(".json"), stem.with_suffix(".safetensors")
    try:
        doc = json.loads(doc_path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, RecursionError) as e:
        raise StateFileError(f"{doc_path}: not a readable trainer-state JSON file ({e})") from None
    if not isinstance(doc, dict) or doc.get("format") != FORMAT or "state" not in doc:
        got = doc.get("format") if isinstance(doc, dict) else type(doc).__name__
        raise StateFileError(f"{doc_path}: format is {got!r}, expected {FORMAT!r}")
    try:
        tensors = load_file(str(tensor_path), device="cpu")
    except (OSError, SafetensorError) as e:
        raise StateFileError(f"{tensor_path}: not a readable safetensors file ({e})") from None
    return _Decoder(tensors, doc_path).decode(doc["state"], "")
