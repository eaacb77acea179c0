"""Layer-slice stacking with mergekit's passthrough semantics.

Output layers are the slices' layers in order; embeddings come from the first slice's model,
the final norm and head from the last slice's; a slice may scale its `o_proj`/`down_proj`
(mergekit's `scale` filter), which scales that layer's residual contribution.
`run_slices(GrowSlicesConfig)` is the operation behind `lmforge grow slices`.
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path
from typing import Any

import torch
from pydantic import BaseModel, ConfigDict, Field

from lmforge.config import load_config as load_yaml_config
from lmforge.errors import UserError
from lmforge.model.config import ModelConfig
from lmforge.model.io import TOKENIZER_FILES, load_config, read_weights, save_model
from lmforge.model.transformer import CausalLM

_LAYER = re.compile(r"^model\.layers\.(\d+)\.(.+)$")
_SCALED = ("o_proj.weight", "down_proj.weight", ".w2.weight")


class Slice(BaseModel):
    """Layers [start, end) of `model` (mergekit's `layer_range`), optionally scaled."""

    model_config = ConfigDict(extra="forbid")
    model: str = Field(description="model folder the layers come from")
    layer_range: tuple[int, int] = Field(description="[start, end): layers start..end-1")
    scale: float = Field(1.0, description="multiplies o_proj/down_proj (the layer's residual contribution)")


class SlicesConfig(BaseModel):
    """slices.yaml: `slices: [{model: DIR, layer_range: [0, 24]}, ...]`."""

    model_config = ConfigDict(extra="forbid")
    slices: list[Slice] = Field(description="layer ranges, stacked in order: [{model, layer_range, scale}]")


class GrowSlicesConfig(SlicesConfig):
    """slices.yaml plus where the stacked folder goes."""

    out: str = Field(description="the stacked model folder")


def folder_hash(model_dir: str | Path) -> str:
    """sha256 over config.json and the weight files (names + bytes), 16 hex digits."""
    h = hashlib.sha256()
    d = Path(model_dir)
    for f in sorted(d.glob("*.safetensors")) + [d / "config.json"]:
        h.update(f.name.encode())
        with open(f, "rb") as fh:
            for chunk in iter(lambda: fh.read(1 << 20), b""):
                h.update(chunk)
    return h.hexdigest()[:16]


def _shape_key(cfg: ModelConfig) -> dict[str, Any]:
    return cfg.model_dump(exclude={"num_hidden_layers", "max_position_embeddings",
                                   "bos_token_id", "eos_token_id", "pad_token_id"})


def _check(slices: list[Slice], configs: dict[str, ModelConfig]) -> None:
    if not slices:
        raise UserError("slices: at least one slice is needed")
    first = slices[0].model
    for i, s in enumerate(slices):
        n = configs[s.model].num_hidden_layers
        a, b = s.layer_range
        if not 0 <= a < b <= n:
            raise UserError(f"slices[{i}].layer_range {[a, b]} is out of bounds for {s.model} "
                            f"({n} layers): need 0 <= start < end <= {n}")
        if _shape_key(configs[s.model]) != _shape_key(configs[first]):
            diff = sorted(k for k, v in _shape_key(configs[s.model]).items()
                          if _shape_key(configs[first])[k] != v)
            raise UserError(f"slices[{i}]: {s.model} has a different architecture from {first} "
                            f"(differs in {', '.join(diff)})")


def stack_slices(slices: list[Slice]) -> tuple[ModelConfig, dict[str, torch.Tensor]]:
    """The grown config and its tensors; every tensor an independent copy."""
    configs = {s.model: load_config(s.model) for s in slices}
    _check(slices, configs)
    weights = {m: read_weights(m) for m in configs}
    first, last = weights[slices[0].model], weights[slices[-1].model]
    out: dict[str, torch.Tensor] = {}
    for name, t in first.items():
        if name.startswith("model.embed_tokens."):
            out[name] = t.clone()
    for name, t in last.items():
        if name.startswith(("model.norm.", "lm_head.")):
            out[name] = t.clone()
    j = 0
    for s in slices:
        src = weights[s.model]
        for i in range(*s.layer_range):
            prefix = f"model.layers.{i}."
            for name, t in src.items():
                if name.startswith(prefix):
                    rest = name[len(prefix):]
                    t = t.clone()
                    if s.scale != 1.0 and rest.endswith(_SCALED):
                        t.mul_(s.scale)
                    out[f"model.layers.{j}.{rest}"] = t
            j += 1
    cfg = configs[slices[0].model].model_copy(update={"num_hidden_layers": j})
    return cfg, out


def save_stacked(slices: list[Slice], out: str | Path, created_by: str,
                 recipe: dict[str, Any]) -> Path:
    """Stack `slices` and write the grown folder (tokenizer from the first slice's model)."""
    cfg, tensors = stack_slices(slices)
    with torch.device("meta"):
        model = CausalLM(cfg)
    if cfg.tie_word_embeddings:
        tensors.pop("lm_head.weight", None)
    model.load_state_dict(tensors, strict=not cfg.tie_word_embeddings, assign=True)
    if cfg.tie_word_embeddings:
        model.lm_head.weight = model.model.embed_tokens.weight
    sources = {m: folder_hash(m) for m in dict.fromkeys(s.model for s in slices)}
    first = slices[0].model
    has_tok = any((Path(first) / f).is_file() for f in TOKENIZER_FILES)
    return save_model(model, out, created_by=created_by, parent=first,
                      details={"recipe": recipe, "source_hashes": sources,
                               "num_hidden_layers": cfg.num_hidden_layers},
                      copy_from=first if has_tok else None)


def run_slices(cfg: GrowSlicesConfig) -> Path:
    """`lmforge grow slices slices.yaml --out DIR`: the stacked folder."""
    return save_stacked(cfg.slices, cfg.out, "lmforge grow slices",
                        {"slices": [s.model_dump() for s in cfg.slices]})


def grow_slices(config_path: str | Path, out: str | Path) -> Path:
    """`run_slices` on a slices.yaml file."""
    cfg = load_yaml_config(SlicesConfig, config_path)
    return run_slices(GrowSlicesConfig(slices=cfg.slices, out=str(out)))
