"""Model folders: a Hugging Face checkpoint plus lmforge.json (lineage), written atomically."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import torch
from pydantic import ValidationError
from safetensors import SafetensorError, safe_open
from safetensors.torch import save_file

import lmforge
from lmforge.config import format_validation_error
from lmforge.errors import UserError
from lmforge.files import atomic_dir, read_json as read_json_file
from lmforge.model.config import ModelConfig, with_folder_overrides
from lmforge.model.transformer import CausalLM

SHARD_BYTES = 2 * 1024**3
INDEX_FILE = "model.safetensors.index.json"
# Files that travel with a model folder when a stage rewrites only the weights.
TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json",
                   "tokenizer.model", "chat_template.jinja")

_ARCH_CLASSES = {"llama": "LlamaForCausalLM", "qwen2": "Qwen2ForCausalLM", "qwen3": "Qwen3ForCausalLM",
                 "mixtral": "MixtralForCausalLM", "lmforge": "LmforgeForCausalLM",
                 "mistral": "MistralForCausalLM"}
_SUPPORTED_TYPES = ("llama", "mistral", "qwen2", "qwen3", "mixtral", "lmforge")
# keys of transformers' rope dict that are not scaling parameters
_ROPE_NOT_SCALING = ("rope_theta", "partial_rotary_factor")


class ModelFolderError(UserError):
    """A model folder that cannot be loaded; the message names the file and what is wrong."""


def hf_config(cfg: ModelConfig) -> dict[str, Any]:
    """config.json content: transformers' field names for the architecture family."""
    arch = cfg.architecture
    d: dict[str, Any] = {
        "architectures": [_ARCH_CLASSES[arch]],
        "model_type": arch,
        "vocab_size": cfg.vocab_size,
        "hidden_size": cfg.hidden_size,
        "intermediate_size": cfg.intermediate_size,
        "num_hidden_layers": cfg.num_hidden_layers,
        "num_attention_heads": cfg.num_attention_heads,
        "num_key_value_heads": cfg.kv_heads,
        "head_dim": cfg.head_size,
        "hidden_act": cfg.hidden_act,
        "max_position_embeddings": cfg.max_position_embeddings,
        "rms_norm_eps": cfg.rms_norm_eps,
        "rope_theta": cfg.rope_theta,
        "tie_word_embeddings": cfg.tie_word_embeddings,
        "initializer_range": cfg.initializer_range,
        "bos_token_id": cfg.bos_token_id,
        "eos_token_id": cfg.eos_token_id,
        "pad_token_id": cfg.pad_token_id,
        "torch_dtype": "float32",
        "use_cache": True,
    }
    if arch == "llama":
        d.update(attention_bias=False, mlp_bias=False)
    if arch in ("qwen2", "qwen3"):
        d.update(use_sliding_window=False, sliding_window=None, max_window_layers=cfg.num_hidden_layers)
    if arch == "qwen3":
        d.update(attention_bias=False)
    if arch == "mistral":
        d.update(sliding_window=cfg.sliding_window)
    if arch == "mixtral":
        d.update(num_local_experts=cfg.num_local_experts, num_experts_per_tok=cfg.num_experts_per_tok,
                 router_aux_loss_coef=cfg.router_aux_loss_coef, sliding_window=cfg.sliding_window,
                 output_router_logits=False)
    if arch == "lmforge":  # needs lmforge to load: record every field
        d.update(cfg.model_dump())
        d["lmforge_note"] = "DeepNorm/MoE/bias-with-q/k-norm variant: load with lmforge.model.load_model"
    if cfg.rope_scaling is not None:
        d["rope_scaling"] = hf_rope_scaling(cfg)
    return d


def hf_rope_scaling(cfg: ModelConfig) -> dict[str, Any]:
    """transformers' `rope_scaling` dict: `rope_type` and its older spelling `type` (read by
    older transformers, vLLM and llama.cpp's converter), the factor, and the original context
    spelled out where the type uses it, so every reader computes the same frequencies."""
    rs = cfg.rope_scaling
    d = {"rope_type": rs.rope_type, "type": rs.rope_type}
    d.update(rs.model_dump(exclude={"rope_type"}, exclude_none=True))
    if rs.rope_type in ("yarn", "llama3"):
        d["original_max_position_embeddings"] = cfg.original_context
    return d


def _rope_scaling(d: dict[str, Any], source: str) -> dict[str, Any] | None:
    """The scaling part of `rope_scaling` (transformers 4) or `rope_parameters` (transformers 5);
    None for plain RoPE. A partial rotary factor is refused (every lmforge head is fully rotated)."""
    rope = dict(d.get("rope_scaling") or d.get("rope_parameters") or {})
    partial = rope.get("partial_rotary_factor", d.get("partial_rotary_factor", 1.0))
    if partial != 1.0:
        raise ModelFolderError(f"{source}: partial_rotary_factor {partial} is not supported")
    rope = {k: v for k, v in rope.items() if k not in _ROPE_NOT_SCALING}
    if rope.get("rope_type", rope.get("type")) in ("default", None):
        return None
    return rope


def _sliding_window(d: dict[str, Any], mtype: str, source: str) -> int | None:
    """Mistral/Mixtral's window; Qwen's only counts with use_sliding_window (refused: it spares
    the first max_window_layers layers, which lmforge does not model)."""
    if mtype in ("mistral", "mixtral"):
        return d.get("sliding_window")
    if mtype in ("qwen2", "qwen3") and d.get("use_sliding_window"):
        raise ModelFolderError(f"{source}: use_sliding_window=true (Qwen per-layer sliding window) "
                               "is not supported")
    return None


def config_from_hf(d: dict[str, Any], source: str = "config.json") -> ModelConfig:
    """ModelConfig from a transformers config.json (Llama, Mistral, Qwen2, Mixtral or ours)."""
    mtype = d.get("model_type")
    if mtype not in _SUPPORTED_TYPES:
        raise ModelFolderError(f"{source}: unsupported model_type {mtype!r}; lmforge loads "
                               f"{', '.join(_SUPPORTED_TYPES)}")
    if mtype == "lmforge":
        try:
            return ModelConfig(**{k: v for k, v in d.items() if k in ModelConfig.model_fields})
        except ValidationError as e:
            raise ModelFolderError(format_validation_error(e, source)) from None
    try:
        cfg = ModelConfig(
            vocab_size=d["vocab_size"], hidden_size=d["hidden_size"],
            intermediate_size=d["intermediate_size"], num_hidden_layers=d["num_hidden_layers"],
            num_attention_heads=d["num_attention_heads"],
            num_key_value_heads=d.get("num_key_value_heads"), head_dim=d.get("head_dim"),
            hidden_act=d.get("hidden_act", "silu"),
            max_position_embeddings=d.get("max_position_embeddings", 2048),
            rms_norm_eps=d.get("rms_norm_eps", 1e-6),
            rope_theta=d.get("rope_theta", (d.get("rope_parameters") or {}).get("rope_theta", 10000.0)),
            rope_scaling=_rope_scaling(d, source),
            sliding_window=_sliding_window(d, mtype, source),
            tie_word_embeddings=d.get("tie_word_embeddings", mtype == "qwen2"),
            qkv_bias=mtype == "qwen2" or bool(d.get("attention_bias")),
            qk_norm=mtype == "qwen3",
            initializer_range=d.get("initializer_range", 0.02),
            num_local_experts=d.get("num_local_experts", 0) if mtype == "mixtral" else 0,
            num_experts_per_tok=d.get("num_experts_per_tok", 2),
            router_aux_loss_coef=d.get("router_aux_loss_coef", 0.01),
            bos_token_id=d.get("bos_token_id"), eos_token_id=_first(d.get("eos_token_id")),
            pad_token_id=d.get("pad_token_id"),
        )
    except KeyError as e:
        raise ModelFolderError(f"{source}: missing key {e.args[0]!r}") from None
    except ValidationError as e:
        raise ModelFolderError(format_validation_error(e, source)) from None
    except (ValueError, TypeError) as e:
        raise ModelFolderError(f"{source}: {e}") from None
    if mtype in ("llama", "qwen3") and d.get("attention_bias"):
        raise ModelFolderError(f"{source}: {mtype} attention_bias (bias on o_proj) is not supported")
    if d.get("mlp_bias"):
        raise ModelFolderError(f"{source}: mlp_bias is not supported")
    return cfg


def _first(x: Any) -> Any:
    return x[0] if isinstance(x, list) and x else x


def read_json(path: Path) -> dict[str, Any]:
    return read_json_file(path, "file", ModelFolderError)


def load_config(model_dir: str | Path, overrides: dict[str, Any] | None = None) -> ModelConfig:
    """A folder's config; `overrides` may extend its context (see with_folder_overrides)."""
    model_dir = Path(model_dir)
    if not model_dir.is_dir():
        raise ModelFolderError(f"{model_dir}: model folder not found")
    path = model_dir / "config.json"
    return with_folder_overrides(config_from_hf(read_json(path), str(path)), overrides or {}, str(model_dir))


def _state_dict_to_save(model: CausalLM) -> dict[str, torch.Tensor]:
    sd = model.state_dict()
    if model.config.tie_word_embeddings:
        sd.pop("lm_head.weight", None)
    # safetensors refuses shared or non-contiguous storage: every tensor its own copy.
    return {k: v.detach().to("cpu").contiguous().clone() for k, v in sd.items()}


def write_weights(tensors: dict[str, torch.Tensor], folder: Path, shard_bytes: int = SHARD_BYTES) -> None:
    shards: list[dict[str, torch.Tensor]] = [{}]
    size = 0
    for name, t in tensors.items():
        nbytes = t.numel() * t.element_size()
        if shards[-1] and size + nbytes > shard_bytes:
            shards.append({})
            size = 0
        shards[-1][name] = t
        size += nbytes
    meta = {"format": "pt"}
    if len(shards) == 1:
        save_file(shards[0], folder / "model.safetensors", metadata=meta)
        return
    weight_map = {}
    for i, shard in enumerate(shards, 1):
        fname = f"model-{i:05d}-of-{len(shards):05d}.safetensors"
        save_file(shard, folder / fname, metadata=meta)
        weight_map.update({k: fname for k in shard})
    total = sum(t.numel() * t.element_size() for t in tensors.values())
    (folder / INDEX_FILE).write_text(json.dumps(
        {"metadata": {"total_size": total}, "weight_map": weight_map}, indent=2))


def save_model(model: CausalLM, out: str | Path, *, created_by: str, parent: str | Path | None = None,
               details: dict[str, Any] | None = None, copy_from: str | Path | None = None,
               shard_bytes: int = SHARD_BYTES, extra_files: dict[str, str] | None = None) -> Path:
    """Write `model` as a HF checkpoint folder at `out`, atomically.

    `copy_from` names a folder whose tokenizer files are carried over; `extra_files` maps file
    names to text written as is (e.g. a tokenizer the caller already has in memory).
    """
    out = Path(out)
    cfg = model.config
    lineage = []
    if parent is not None and (Path(parent) / "lmforge.json").is_file():
        lineage = read_json(Path(parent) / "lmforge.json").get("lineage", [])
    lineage = lineage + [{"created_by": created_by, "parent": str(parent) if parent else None,
                          "details": details or {}}]
    with atomic_dir(out) as tmp:
        write_weights(_state_dict_to_save(model), tmp, shard_bytes)
        (tmp / "config.json").write_text(json.dumps(hf_config(cfg), indent=2))
        gen = {"bos_token_id": cfg.bos_token_id, "eos_token_id": cfg.eos_token_id,
               "pad_token_id": cfg.pad_token_id}
        (tmp / "generation_config.json").write_text(json.dumps(gen, indent=2))
        (tmp / "lmforge.json").write_text(json.dumps(
            {"lmforge_version": lmforge.__version__, "model": cfg.model_dump(),
             "lineage": lineage}, indent=2, ensure_ascii=False))
        if copy_from is not None:
            for name in TOKENIZER_FILES:
                src = Path(copy_from) / name
                if src.is_file():
                    shutil.copy2(src, tmp / name)
        for name, text in (extra_files or {}).items():
            (tmp / name).write_text(text, encoding="utf-8")
    return out


def _weight_files(model_dir: Path) -> list[Path]:
    index = model_dir / INDEX_FILE
    if index.is_file():
        files = sorted(set(read_json(index).get("weight_map", {}).values()))
        missing = [f for f in files if not (model_dir / f).is_file()]
        if missing:
            raise ModelFolderError(f"{index}: shard(s) listed but missing: {missing}")
        return [model_dir / f for f in files]
    single = model_dir / "model.safetensors"
    if single.is_file():
        return [single]
    if any(model_dir.glob("*.bin")):
        raise ModelFolderError(f"{model_dir}: only PyTorch .bin weights found; lmforge loads "
                               "safetensors only (re-save with safe_serialization=True)")
    raise ModelFolderError(f"{model_dir}: no model.safetensors or {INDEX_FILE}")


def read_weights(model_dir: str | Path) -> dict[str, torch.Tensor]:
    tensors: dict[str, torch.Tensor] = {}
    for path in _weight_files(Path(model_dir)):
        try:
            with safe_open(str(path), framework="pt") as f:
                for k in f.keys():
                    tensors[k] = f.get_tensor(k)
        except (SafetensorError, OSError, RuntimeError) as e:
            raise ModelFolderError(f"{path}: corrupted or truncated safetensors file ({e})") from None
    return tensors


def load_model(model_dir: str | Path, device: str | torch.device = "cpu",
               dtype: torch.dtype = torch.float32, overrides: dict[str, Any] | None = None) -> CausalLM:
    """Load an lmforge or transformers-saved Llama/Mistral/Qwen2/Qwen3/Mixtral safetensors folder;
    `overrides` may extend its context (rope_scaling, max_position_embeddings, ...)."""
    model_dir = Path(model_dir)
    cfg = load_config(model_dir, overrides)
    with torch.device("meta"):
        model = CausalLM(cfg)
    tensors = read_weights(model_dir)
    if cfg.tie_word_embeddings:
        tensors.pop("lm_head.weight", None)
    expected = {k: v for k, v in model.state_dict().items()
                if not (cfg.tie_word_embeddings and k == "lm_head.weight")}
    missing = sorted(set(expected) - set(tensors))
    unexpected = sorted(k for k in set(tensors) - set(expected) if "rotary_emb" not in k)
    if missing:
        raise ModelFolderError(f"{model_dir}: missing tensor(s) {missing[:5]}"
                               f"{' ...' if len(missing) > 5 else ''}")
    if unexpected:
        raise ModelFolderError(f"{model_dir}: unexpected tensor(s) {unexpected[:5]}"
                               f"{' ...' if len(unexpected) > 5 else ''}")
    for k, ref in expected.items():
        if tuple(tensors[k].shape) != tuple(ref.shape):
            raise ModelFolderError(f"{model_dir}: tensor {k} has shape {tuple(tensors[k].shape)}, "
                                   f"config.json implies {tuple(ref.shape)}")
    model = model.to_empty(device=device)
    model.load_state_dict({k: tensors[k] for k in expected}, strict=False, assign=False)
    if cfg.tie_word_embeddings:
        model.lm_head.weight = model.model.embed_tokens.weight
    model.model.rotary_emb = type(model.model.rotary_emb)(cfg).to(device)
    return model.to(dtype=dtype).eval()
