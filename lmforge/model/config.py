"""Model configuration: one typed config for every Llama-family shape, plus named presets."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from lmforge.config import validate
from lmforge.errors import UserError

Architecture = Literal["llama", "qwen2", "qwen3", "mistral", "mixtral", "lmforge"]
RopeType = Literal["linear", "dynamic", "yarn", "llama3"]


class RopeScaling(BaseModel):
    """RoPE scaling as transformers' `rope_scaling` (see lmforge/model/rope.py for the maths).

    `linear` divides every frequency by `factor`; `dynamic` (NTK) raises the base once a
    sequence is longer than max_position_embeddings; `yarn` interpolates the low frequencies,
    keeps the high ones and scales attention; `llama3` is Llama 3.1's smooth interpolation.
    `original_max_position_embeddings` defaults to the model's max_position_embeddings, as in
    transformers. `type` is accepted as the older spelling of `rope_type`."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True)

    rope_type: RopeType = Field(description="linear, dynamic, yarn or llama3")
    factor: float = Field(ge=1.0, description="context extension factor")
    original_max_position_embeddings: int | None = Field(None, gt=0, description="pretraining context length")
    low_freq_factor: float | None = Field(None, gt=0, description="llama3: wavelengths above orig/low are scaled")
    high_freq_factor: float | None = Field(None, gt=0, description="llama3: wavelengths below orig/high are kept")
    beta_fast: float | None = Field(None, gt=0, description="yarn: rotations where interpolation stops (32)")
    beta_slow: float | None = Field(None, gt=0, description="yarn: rotations where it is full (1)")
    attention_factor: float | None = Field(None, gt=0, description="yarn: cos/sin scale (0.1 ln(factor) + 1)")
    mscale: float | None = Field(None, description="yarn (DeepSeek form) attention factor numerator")
    mscale_all_dim: float | None = Field(None, description="yarn (DeepSeek form) attention factor denominator")
    truncate: bool | None = Field(None, description="yarn: round the correction range (default true)")

    @model_validator(mode="before")
    @classmethod
    def _type_alias(cls, data: Any) -> Any:
        if isinstance(data, dict) and "type" in data:
            data = dict(data)
            old = data.pop("type")
            if data.setdefault("rope_type", old) != old:
                raise UserError(f"rope_scaling: type {old!r} and rope_type {data['rope_type']!r} disagree")
        return data

    @model_validator(mode="after")
    def _llama3_needs(self) -> "RopeScaling":
        if self.rope_type == "llama3":
            missing = [k for k in ("low_freq_factor", "high_freq_factor", "original_max_position_embeddings")
                       if getattr(self, k) is None]
            if missing:
                raise UserError(f"rope_scaling of type llama3 needs {', '.join(missing)}")
            if self.low_freq_factor >= self.high_freq_factor:
                raise UserError("rope_scaling: llama3 low_freq_factor must be below high_freq_factor")
        return self


class ModelConfig(BaseModel):
    """Field names follow transformers' LlamaConfig so config.json needs no translation."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True)

    vocab_size: int = 32000
    hidden_size: int = 4096
    intermediate_size: int = 11008
    num_hidden_layers: int = 32
    num_attention_heads: int = 32
    num_key_value_heads: int | None = None
    head_dim: int | None = None
    hidden_act: Literal["silu", "gelu", "gelu_pytorch_tanh", "gelu_new"] = "silu"
    max_position_embeddings: int = 4096
    rms_norm_eps: float = 1e-5
    rope_theta: float = 10000.0
    tie_word_embeddings: bool = False
    qkv_bias: bool = False  # Qwen2-style bias on q/k/v only
    qk_norm: bool = False  # Qwen3: RMSNorm over each head of q and k, before RoPE
    rope_scaling: RopeScaling | None = None  # context extension (linear, dynamic, yarn, llama3)
    sliding_window: int | None = Field(None, gt=0)  # Mistral: each token sees the last N keys
    initializer_range: float = 0.02
    # MindLLM / DeepNet residual scaling (post-norm with alpha); needs lmforge to load.
    deepnorm: bool = False
    # Mixtral-style sparse MoE feed-forward; 0 experts means a dense MLP.
    num_local_experts: int = 0
    num_experts_per_tok: int = 2
    router_aux_loss_coef: float = 0.01
    bos_token_id: int | None = 1
    eos_token_id: int | None = 2
    pad_token_id: int | None = None

    @model_validator(mode="after")
    def _check_shapes(self) -> "ModelConfig":
        for name in ("vocab_size", "hidden_size", "intermediate_size", "num_hidden_layers",
                     "num_attention_heads", "max_position_embeddings"):
            if getattr(self, name) <= 0:
                raise UserError(f"{name} must be positive, got {getattr(self, name)}")
        kv = self.kv_heads
        if self.num_attention_heads % kv:
            raise UserError(f"num_attention_heads ({self.num_attention_heads}) must be a "
                             f"multiple of num_key_value_heads ({kv})")
        if self.head_dim is None and self.hidden_size % self.num_attention_heads:
            raise UserError(f"hidden_size ({self.hidden_size}) must be divisible by "
                             f"num_attention_heads ({self.num_attention_heads}) or set head_dim")
        if self.num_local_experts and not 0 < self.num_experts_per_tok <= self.num_local_experts:
            raise UserError("num_experts_per_tok must be in 1..num_local_experts")
        return self

    @property
    def kv_heads(self) -> int:
        return self.num_key_value_heads or self.num_attention_heads

    @property
    def head_size(self) -> int:
        return self.head_dim or self.hidden_size // self.num_attention_heads

    @property
    def architecture(self) -> Architecture:
        """The transformers class family that loads this config without lmforge code."""
        if self.deepnorm:
            return "lmforge"
        if self.num_local_experts:
            return "lmforge" if self.qkv_bias or self.qk_norm else "mixtral"
        if self.qk_norm:  # transformers' Qwen3 puts attention_bias on o_proj too
            return "lmforge" if self.qkv_bias or self.sliding_window else "qwen3"
        if self.qkv_bias:
            return "lmforge" if self.sliding_window else "qwen2"
        return "mistral" if self.sliding_window else "llama"

    @property
    def original_context(self) -> int:
        """The pretraining context a rope scaling extends (max_position_embeddings without one)."""
        rs = self.rope_scaling
        return (rs and rs.original_max_position_embeddings) or self.max_position_embeddings


def _llama(**kw: Any) -> dict[str, Any]:
    return kw


PRESETS: dict[str, dict[str, Any]] = {
    # ~1M parameters: unit tests.
    "tiny": _llama(vocab_size=2048, hidden_size=128, intermediate_size=352, num_hidden_layers=4,
                   num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=512),
    # a few M parameters: trains on 2 CPU cores in minutes (make demo).
    "demo": _llama(vocab_size=4096, hidden_size=192, intermediate_size=512, num_hidden_layers=4,
                   num_attention_heads=6, num_key_value_heads=2, max_position_embeddings=512,
                   tie_word_embeddings=True),
    "llama2-7b": _llama(vocab_size=32000, hidden_size=4096, intermediate_size=11008,
                        num_hidden_layers=32, num_attention_heads=32, num_key_value_heads=32,
                        max_position_embeddings=4096, rms_norm_eps=1e-5),
    "mistral-7b": _llama(vocab_size=32000, hidden_size=4096, intermediate_size=14336,
                         num_hidden_layers=32, num_attention_heads=32, num_key_value_heads=8,
                         max_position_embeddings=32768, rope_theta=1e6),
    # SOLAR 10.7B: Mistral 7B depth up-scaled to 2 * (32 - 8) = 48 layers.
    "solar-10.7b": _llama(vocab_size=32000, hidden_size=4096, intermediate_size=14336,
                          num_hidden_layers=48, num_attention_heads=32, num_key_value_heads=8,
                          max_position_embeddings=4096),
    # MindLLM (Yang et al. 2023): GeGLU, DeepNorm, RoPE, bilingual 125,700-token vocabulary.
    # The paper gives 1.3B and 3.1B parameters; widths here are chosen to land on those counts.
    "mindllm-1.3b": _llama(vocab_size=125700, hidden_size=2048, intermediate_size=4096,
                           num_hidden_layers=24, num_attention_heads=16, hidden_act="gelu",
                           max_position_embeddings=2048, deepnorm=True, tie_word_embeddings=True),
    "mindllm-3b": _llama(vocab_size=125700, hidden_size=2560, intermediate_size=6656,
                         num_hidden_layers=32, num_attention_heads=20, hidden_act="gelu",
                         max_position_embeddings=2048, deepnorm=True),
    # Steel-LLM: Qwen tokenizer, 18 layers of width 1792; a dense SwiGLU replaces its soft MoE.
    "steel-1b": _llama(vocab_size=151936, hidden_size=1792, intermediate_size=1920,
                       num_hidden_layers=18, num_attention_heads=32, num_key_value_heads=32,
                       max_position_embeddings=2048, qkv_bias=True, rope_theta=1e6,
                       rms_norm_eps=1e-6, head_dim=56),
    "qwen2-0.5b": _llama(vocab_size=151936, hidden_size=896, intermediate_size=4864,
                         num_hidden_layers=24, num_attention_heads=14, num_key_value_heads=2,
                         max_position_embeddings=32768, rope_theta=1e6, rms_norm_eps=1e-6,
                         qkv_bias=True, tie_word_embeddings=True),
}


def preset(name: str, **overrides: Any) -> ModelConfig:
    """A preset's config with field overrides; unknown names list the valid ones."""
    if name not in PRESETS:
        raise UserError(f"unknown preset {name!r}; valid presets: {', '.join(PRESETS)}")
    fields = {**PRESETS[name], **overrides}
    unknown = sorted(set(overrides) - set(ModelConfig.model_fields))
    if unknown:
        raise UserError(f"unknown model config key(s) {unknown}; valid keys: "
                        f"{', '.join(ModelConfig.model_fields)}")
    return validate(ModelConfig, fields, f"preset {name}")


# Fields a model folder may change without touching its weights: how far attention reaches.
FOLDER_OVERRIDES = ("rope_scaling", "max_position_embeddings", "rope_theta", "sliding_window")


def _scaling_override(cfg: ModelConfig, new: Any) -> dict[str, Any] | None:
    """A rope_scaling override merged over the folder's own (same type), its original context
    filled in from the folder (max_position_embeddings before extension)."""
    if not isinstance(new, dict):
        return new
    new = dict(new)
    kind = new.get("rope_type", new.get("type"))
    old = cfg.rope_scaling
    merged = old.model_dump(exclude_none=True) if old and kind in (None, old.rope_type) else {}
    merged.update(new)
    if "type" in new:
        merged.pop("rope_type", None)
    if merged.get("rope_type", merged.get("type")) != "dynamic":  # dynamic NTK reads max_position_embeddings
        merged.setdefault("original_max_position_embeddings", cfg.original_context)
    return merged


def with_folder_overrides(cfg: ModelConfig, overrides: dict[str, Any], source: str) -> ModelConfig:
    """`cfg` (a folder's config) with context-extension overrides, e.g. `rope_scaling.type=yarn
    rope_scaling.factor=4`. Without an explicit max_position_embeddings, a linear/yarn/llama3
    scaling sets it to factor x the original context (dynamic NTK keeps it: it is the length
    where the base starts to grow). Shape fields are refused: the weights fix them."""
    if not overrides:
        return cfg
    shape = sorted(set(overrides) - set(FOLDER_OVERRIDES))
    if shape:
        raise UserError(f"{source}: {shape} would change the shapes of the folder's weights; a model "
                        f"folder takes only {', '.join(FOLDER_OVERRIDES)} (a fresh `preset` takes any field)")
    fields = {**cfg.model_dump(), **overrides}
    if "rope_scaling" in overrides:
        rs = fields["rope_scaling"] = _scaling_override(cfg, overrides["rope_scaling"])
        if "max_position_embeddings" not in overrides:
            fields["max_position_embeddings"] = cfg.original_context
            if rs and rs.get("rope_type", rs.get("type")) != "dynamic" and isinstance(rs.get("factor"), (int, float)):
                original = rs.get("original_max_position_embeddings", cfg.original_context)
                fields["max_position_embeddings"] = int(round(rs["factor"] * original))
    return validate(ModelConfig, fields, source)
