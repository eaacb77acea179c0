"""Model configuration: one typed config for every Llama-family shape, plus named presets."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, model_validator

from lmforge.config import validate
from lmforge.errors import UserError

Architecture = Literal["llama", "qwen2", "mistral", "mixtral", "lmforge"]


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
            if self.qkv_bias:
                return "lmforge"
            return "mixtral"
        return "qwen2" if self.qkv_bias else "llama"


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
