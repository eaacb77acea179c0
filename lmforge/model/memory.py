"""Training memory per device and the tokens/s to expect, from shapes alone (no weights).

Counts what lmforge's training step holds: fp32 master weights, their gradients, AdamW's two
moments, the tensors each decoder layer saves for the backward pass (as this repository's
transformer computes them), the output layer's logits (full or chunked), with activation
checkpointing, bf16 autocast, DDP or FSDP2 over `gpus` devices.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Literal, get_args

from lmforge.errors import UserError
from lmforge.model.config import ModelConfig
from lmforge.model.flops import flops_per_token, param_count, peak_flops
from lmforge.model.loss import chunk_tokens

GiB = 2**30


@dataclass
class TrainShape:
    seq_len: int = 2048
    batch_size: int = 8  # sequences per micro-batch per device
    precision: Literal["fp32", "bf16"] = "bf16"
    distributed: Literal["none", "ddp", "fsdp"] = "none"
    gpus: int = 1
    activation_checkpointing: bool = False
    loss_impl: Literal["chunked", "full"] = "chunked"
    loss_chunk_tokens: int | None = None


@dataclass
class MemoryEstimate:
    """Bytes per device; `peak` is the most the step holds at once."""
    parameters: float
    gradients: float
    optimizer: float
    activations: float  # saved for backward, with the shape's checkpointing setting
    activations_no_checkpointing: float
    activations_checkpointing: float
    logits: float  # the output layer's transient peak (full or chunked)
    logits_full: float
    logits_chunked: float
    peak: float

    def gib(self) -> dict[str, float]:
        return {k: round(v / GiB, 3) for k, v in asdict(self).items()}


def layer_activation_bytes(cfg: ModelConfig, precision: str) -> float:
    """Bytes one decoder layer saves for backward, per token.

    fp32: the two RMSNorms keep their input, normalized input and output (6h); attention keeps
    q, rotate_half(q) and the rotated q (3q), the same for k (3kv), v (kv), the attention output
    and its head-merged copy (2q); the gated MLP keeps gate, act(gate), up and their product (4i).
    bf16 autocast: the norms' fp32 tensors stay fp32 (4h x 4 bytes), everything matmul-side is
    bf16 (the linear layers keep bf16 copies of their inputs)."""
    h, q, kv = cfg.hidden_size, cfg.num_attention_heads * cfg.head_size, cfg.kv_heads * cfg.head_size
    i = cfg.intermediate_size * (cfg.num_experts_per_tok if cfg.num_local_experts else 1)
    if precision == "fp32":
        return 4.0 * (6 * h + 5 * q + 4 * kv + 4 * i)
    return 4.0 * 4 * h + 2.0 * (2 * h + 5 * q + 4 * kv + 4 * i)


def activation_bytes(cfg: ModelConfig, shape: TrainShape, checkpointing: bool) -> float:
    """Saved activations of one micro-batch: every layer, or (checkpointing) each layer's fp32
    input plus one layer recomputed during backward; plus the final norm's tensors."""
    tokens = shape.seq_len * shape.batch_size
    layer = layer_activation_bytes(cfg, shape.precision) * tokens
    final = 4.0 * 4 * cfg.hidden_size * tokens
    if checkpointing:
        return cfg.num_hidden_layers * 4.0 * cfg.hidden_size * tokens + layer + final
    return cfg.num_hidden_layers * layer + final


def logits_bytes(cfg: ModelConfig, shape: TrainShape, impl: str) -> float:
    """The output layer's transient peak. Full: fp32 logits, their log-softmax and its gradient
    (plus the bf16 logits under autocast). Chunked: one chunk's fp32 logits, which become its
    softmax-gradient in place (plus a bf16 copy of them under autocast), the hidden-state
    gradient, and the head's fp32 gradient computed during the forward pass."""
    tokens = shape.seq_len * shape.batch_size
    v, h = cfg.vocab_size, cfg.hidden_size
    bf16 = 2.0 if shape.precision == "bf16" else 0.0
    if impl == "full":
        return tokens * v * (3 * 4.0 + bf16)
    chunk = min(tokens, shape.loss_chunk_tokens or chunk_tokens(v))
    return chunk * v * (4.0 + bf16) + tokens * h * 4.0 + v * h * 4.0


def estimate_training_memory(cfg: ModelConfig, shape: TrainShape) -> MemoryEstimate:
    """Per-device bytes of one training step (see the module docstring)."""
    n = param_count(cfg)
    shards = shape.gpus if shape.distributed == "fsdp" else 1
    params = 4.0 * n / shards
    grads = 4.0 * n / shards
    optimizer = 8.0 * n / shards
    if shape.distributed == "fsdp" and shards > 1:  # two layers all-gathered at a time
        params += 2 * 4.0 * (n - 2 * cfg.vocab_size * cfg.hidden_size) / cfg.num_hidden_layers
    if shape.distributed == "ddp" and shape.gpus > 1:
        grads *= 2  # DDP's gradient buckets
    acts = {c: activation_bytes(cfg, shape, c) for c in (False, True)}
    logits = {k: logits_bytes(cfg, shape, k) for k in ("full", "chunked")}
    act, lg = acts[shape.activation_checkpointing], logits[shape.loss_impl]
    head_grad = 0.0 if shape.loss_impl == "chunked" else 4.0 * cfg.vocab_size * cfg.hidden_size / shards
    # Forward/backward turn: activations + logits; optimizer step: gradients (activations freed).
    peak = params + optimizer + max(act + lg + head_grad, grads)
    return MemoryEstimate(params, grads, optimizer, act, acts[False], acts[True], lg, logits["full"],
                          logits["chunked"], peak)


def expected_tokens_per_s(cfg: ModelConfig, seq_len: int, mfu: float, gpus: int = 1,
                          device: str = "H100") -> float | None:
    """Training tokens/s over all devices at model-FLOPs utilisation `mfu` (None: unknown device)."""
    peak = peak_flops(device)
    if peak is None:
        return None
    return mfu * peak * gpus / flops_per_token(cfg, seq_len)


def _field_value(key: str, value: str):
    """A --train value in its field's type; Literal fields must be one of their choices."""
    kind = TrainShape.__dataclass_fields__[key].type
    default = getattr(TrainShape(), key)
    if isinstance(default, bool):
        return value.lower() in ("1", "true", "yes")
    if isinstance(default, int) or key == "loss_chunk_tokens":
        if not value.strip().isdigit() or int(value) <= 0:
            raise UserError(f"--train: {key} must be a whole number above 0, not {value!r}")
        return int(value)
    choices = get_args(kind)
    if choices and value not in choices:
        raise UserError(f"--train: {key} must be one of {', '.join(choices)}, not {value!r}")
    return value


def parse_train_shape(text: str) -> tuple[TrainShape, dict[str, str]]:
    """'seq_len=4096,batch_size=8,precision=bf16,distributed=fsdp,gpus=8' -> TrainShape, plus
    the keys it does not hold (mfu, device) for the speed estimate."""
    fields = TrainShape.__dataclass_fields__
    shape, extra = {}, {}
    for part in filter(None, (p.strip() for p in text.split(","))):
        key, sep, value = part.partition("=")
        if not sep:
            raise UserError(f"--train: expected key=value, got {part!r}")
        if key in fields:
            shape[key] = _field_value(key, value)
        elif key in ("mfu", "device"):
            extra[key] = value
        else:
            raise UserError(f"--train: unknown key {key!r}; known: {', '.join([*fields, 'mfu', 'device'])}")
    return TrainShape(**shape), extra


def train_report(cfg: ModelConfig, spec: str) -> dict:
    """`lmforge model info --train SPEC`: memory per device (GiB) and the speed to expect."""
    shape, extra = parse_train_shape(spec)
    try:
        mfu, device = float(extra.get("mfu", 0.4)), extra.get("device", "H100")
    except ValueError:
        raise UserError(f"--train: mfu must be a number, not {extra['mfu']!r}") from None
    if not 0 < mfu <= 1:
        raise UserError(f"--train: mfu must be in (0, 1], not {mfu}")
    est = estimate_training_memory(cfg, shape)
    tps = expected_tokens_per_s(cfg, shape.seq_len, mfu, shape.gpus, device)
    return {"shape": asdict(shape), "memory_gib_per_device": est.gib(), "mfu": mfu, "device": device,
            "tokens_per_s": round(tps) if tps else None,
            "tokens_per_s_per_device": round(tps / shape.gpus) if tps else None}
