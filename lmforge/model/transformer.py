"""A Llama-family decoder whose parameter names equal transformers' LlamaForCausalLM.

RMSNorm pre-norm, rotate-half RoPE, grouped-query attention through SDPA, SwiGLU/GeGLU MLP,
optional q/k/v bias (Qwen2), tied or untied embeddings, optional DeepNorm residual scaling
and an optional Mixtral-style MoE feed-forward (lmforge/model/moe.py).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from lmforge.model.rope import base_inv_freq, inv_freq as scaled_inv_freq
from lmforge.model.activations import ACTIVATIONS
from lmforge.model.cache import KVCache
from lmforge.model.config import ModelConfig
from lmforge.model.loss import (IGNORE, LossImpl, linear_cross_entropy, masked_logprobs, token_logprobs,
                                use_full_logits)
from lmforge.model.moe import SparseMoeBlock

try:  # FlexAttention (torch >= 2.5) for document masks on CUDA
    from torch.nn.attention.flex_attention import BlockMask, create_block_mask, flex_attention
except ImportError:  # pragma: no cover - older torch
    BlockMask = create_block_mask = flex_attention = None
_compiled_flex = None



class RMSNorm(nn.Module):
    def __init__(self, dim: int, eps: float):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(dim))
        self.variance_epsilon = eps

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dtype == self.weight.dtype == torch.float32 and not torch.is_autocast_enabled(x.device.type):
            # one op with the same numbers (no autocast: its cast policy for rms_norm is not ours)
            return F.rms_norm(x, self.weight.shape, self.weight, self.variance_epsilon)
        dtype = x.dtype
        x = x.float()
        x = x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.variance_epsilon)
        return self.weight * x.to(dtype)


class RotaryEmbedding(nn.Module):
    """cos/sin tables, with the config's rope scaling (lmforge/model/rope.py); 2D positions
    (B, 2, T), as GLM uses, rotate each half of the head dimension by one of the two position ids."""

    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.config = cfg
        inv_freq, self.attention_scaling = scaled_inv_freq(cfg)
        half = cfg.head_size // 2
        self.register_buffer("inv_freq", inv_freq, persistent=False)
        self.register_buffer("inv_freq_2d", base_inv_freq(half, cfg.rope_theta), persistent=False)

    def forward(self, position_ids: torch.Tensor, dtype: torch.dtype):
        """cos and sin tables (B, [2,] T, d); sin has its first half negated (see apply_rope)."""
        inv = self.inv_freq_2d if position_ids.dim() == 3 else self._inv_freq(position_ids)
        freqs = position_ids[..., None].float() * inv  # (B, [2,] T, d/2)
        cos, sin = freqs.cos(), freqs.sin()
        cos, sin = torch.cat((cos, cos), dim=-1), torch.cat((-sin, sin), dim=-1)
        if self.attention_scaling != 1.0:
            cos, sin = cos * self.attention_scaling, sin * self.attention_scaling
        return cos.to(dtype), sin.to(dtype)

    def _inv_freq(self, position_ids: torch.Tensor) -> torch.Tensor:
        rs = self.config.rope_scaling
        if rs is None or rs.rope_type != "dynamic":
            return self.inv_freq
        seq_len = int(position_ids.max()) + 1  # dynamic NTK: the base follows the longest position
        if seq_len <= self.config.max_position_embeddings:
            return self.inv_freq
        return scaled_inv_freq(self.config, seq_len)[0].to(self.inv_freq.device)


def apply_rope(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    """x (B, H, T, hd); cos/sin (B, T, hd), or (B, 2, T, hd/2) for 2D positions, as
    RotaryEmbedding gives them: rotate-half RoPE, x * cos + cat(-x2, x1) * sin, written as
    x * cos + cat(x2, x1) * cat(-sin1, sin2) (one roll instead of a negation and a concatenation)."""
    if cos.dim() == 4:
        a, b = x.chunk(2, dim=-1)
        return torch.cat((apply_rope(a, cos[:, 0], sin[:, 0]),
                          apply_rope(b, cos[:, 1], sin[:, 1])), dim=-1)
    cos, sin = cos[:, None], sin[:, None]  # broadcast over heads
    return x * cos + x.roll(x.shape[-1] // 2, dims=-1) * sin


class Attention(nn.Module):
    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.n_heads, self.n_kv, self.hd = cfg.num_attention_heads, cfg.kv_heads, cfg.head_size
        h = cfg.hidden_size
        self.q_proj = nn.Linear(h, self.n_heads * self.hd, bias=cfg.qkv_bias)
        self.k_proj = nn.Linear(h, self.n_kv * self.hd, bias=cfg.qkv_bias)
        self.v_proj = nn.Linear(h, self.n_kv * self.hd, bias=cfg.qkv_bias)
        self.o_proj = nn.Linear(self.n_heads * self.hd, h, bias=False)
        if cfg.qk_norm:  # Qwen3: RMSNorm over each head's q and k (weights of head_dim)
            self.q_norm = RMSNorm(self.hd, cfg.rms_norm_eps)
            self.k_norm = RMSNorm(self.hd, cfg.rms_norm_eps)

    def forward(self, x, cos, sin, mask, cache: KVCache | None, layer: int):
        b, t, _ = x.shape
        q = self.q_proj(x).view(b, t, self.n_heads, self.hd)
        k = self.k_proj(x).view(b, t, self.n_kv, self.hd)
        if hasattr(self, "q_norm"):
            q, k = self.q_norm(q), self.k_norm(k)
        q, k = q.transpose(1, 2), k.transpose(1, 2)
        v = self.v_proj(x).view(b, t, self.n_kv, self.hd).transpose(1, 2)
        q, k = apply_rope(q, cos, sin), apply_rope(k, cos, sin)
        if cache is not None:
            k, v = cache.update(layer, k, v)
        gqa = self.n_kv != self.n_heads
        if BlockMask is not None and isinstance(mask, BlockMask):
            # autocast does not cast for flex_attention; RoPE's fp32 tables may have promoted q, k
            out = _flex()(q.to(v.dtype), k.to(v.dtype), v, block_mask=mask, enable_gqa=gqa)
        elif mask is None:
            out = F.scaled_dot_product_attention(q, k, v, is_causal=t > 1, enable_gqa=gqa)
        else:
            out = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, enable_gqa=gqa)
        return self.o_proj(out.transpose(1, 2).reshape(b, t, self.n_heads * self.hd))


class MLP(nn.Module):
    def __init__(self, cfg: ModelConfig):
        super().__init__()
        h, i = cfg.hidden_size, cfg.intermediate_size
        self.gate_proj = nn.Linear(h, i, bias=False)
        self.up_proj = nn.Linear(h, i, bias=False)
        self.down_proj = nn.Linear(i, h, bias=False)
        self.act = ACTIVATIONS[cfg.hidden_act]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.down_proj(self.act(self.gate_proj(x)) * self.up_proj(x))


class DecoderLayer(nn.Module):
    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.self_attn = Attention(cfg)
        if cfg.num_local_experts:
            self.block_sparse_moe = SparseMoeBlock(cfg)
        else:
            self.mlp = MLP(cfg)
        self.input_layernorm = RMSNorm(cfg.hidden_size, cfg.rms_norm_eps)
        self.post_attention_layernorm = RMSNorm(cfg.hidden_size, cfg.rms_norm_eps)
        # DeepNet: x <- LN(alpha * x + f(x)), alpha = (2N)^(1/4) for a decoder-only stack.
        self.deepnorm_alpha = (2 * cfg.num_hidden_layers) ** 0.25 if cfg.deepnorm else None

    def feed_forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.mlp(x) if hasattr(self, "mlp") else self.block_sparse_moe(x)

    def forward(self, x, cos, sin, mask, cache, layer):
        if self.deepnorm_alpha is not None:
            a = self.deepnorm_alpha
            x = self.input_layernorm(a * x + self.self_attn(x, cos, sin, mask, cache, layer))
            return self.post_attention_layernorm(a * x + self.feed_forward(x))
        x = x + self.self_attn(self.input_layernorm(x), cos, sin, mask, cache, layer)
        return x + self.feed_forward(self.post_attention_layernorm(x))


class Backbone(nn.Module):
    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.embed_tokens = nn.Embedding(cfg.vocab_size, cfg.hidden_size)
        self.layers = nn.ModuleList(DecoderLayer(cfg) for _ in range(cfg.num_hidden_layers))
        self.norm = RMSNorm(cfg.hidden_size, cfg.rms_norm_eps)
        self.rotary_emb = RotaryEmbedding(cfg)


def _attention_mask(attention_mask: torch.Tensor, q_len: int, past: int) -> torch.Tensor:
    """Boolean (B, 1, q, k) mask: causal and hiding padded keys (attention_mask 0)."""
    k_len = attention_mask.shape[1]
    q_pos = torch.arange(past, past + q_len, device=attention_mask.device)[:, None]
    k_pos = torch.arange(k_len, device=attention_mask.device)[None, :]
    causal = k_pos <= q_pos
    mask = causal[None, None] & attention_mask[:, None, None, :].bool()
    # A fully padded query row would give NaN in SDPA; let it see itself (output is ignored).
    return mask | (k_pos == q_pos)[None, None]


def _flex():
    """flex_attention compiled once (uncompiled it materializes the scores)."""
    global _compiled_flex
    if _compiled_flex is None:
        _compiled_flex = torch.compile(flex_attention, dynamic=False)
    return _compiled_flex


def document_positions(document_ids: torch.Tensor) -> torch.Tensor:
    """Positions that restart at 0 where the document id changes along each row."""
    idx = torch.arange(document_ids.shape[1], device=document_ids.device).expand_as(document_ids)
    starts = torch.ones_like(document_ids, dtype=torch.bool)
    starts[:, 1:] = document_ids[:, 1:] != document_ids[:, :-1]
    return idx - torch.where(starts, idx, 0).cummax(-1).values


def document_mask(document_ids: torch.Tensor, flex: bool | None = None, window: int | None = None):
    """Causal attention within each document of a packed row: a FlexAttention BlockMask on
    CUDA (when available and `flex` is not False), else a boolean (B, 1, T, T) SDPA mask.
    `window` (a sliding window) also hides keys `window` or more positions back."""
    b, t = document_ids.shape
    if flex is None:
        flex = document_ids.is_cuda and create_block_mask is not None
    if flex:
        def same_doc(bi, _h, q, kv):
            near = (q - kv < window) if window else (q >= 0)
            return (q >= kv) & (document_ids[bi, q] == document_ids[bi, kv]) & near

        return create_block_mask(same_doc, b, None, t, t, device=document_ids.device)
    pos = torch.arange(t, device=document_ids.device)
    causal = pos[None, :] <= pos[:, None]
    if window:
        causal = causal & (pos[:, None] - pos[None, :] < window)
    return (causal & (document_ids[:, :, None] == document_ids[:, None, :]))[:, None]


def sliding_window_mask(mask: torch.Tensor | None, b: int, t: int, past: int, window: int,
                        device: torch.device) -> torch.Tensor:
    """`mask` (None = causal) restricted to the last `window` keys of each query, as Mistral's
    sliding window (query i sees keys j with i - window < j <= i)."""
    q_pos = torch.arange(past, past + t, device=device)[:, None]
    k_pos = torch.arange(past + t, device=device)[None, :]
    band = ((k_pos <= q_pos) & (q_pos - k_pos < window))[None, None]
    if mask is None:
        return band.expand(b, 1, t, past + t)
    if mask.dtype == torch.bool:
        return mask & band
    return mask.masked_fill(~band, float("-inf"))


class CausalLM(nn.Module):
    """Decoder-only LM; `model.*` and `lm_head` match transformers' parameter names."""

    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.config = cfg
        self.model = Backbone(cfg)
        self.lm_head = nn.Linear(cfg.hidden_size, cfg.vocab_size, bias=False)
        if cfg.tie_word_embeddings:
            self.lm_head.weight = self.model.embed_tokens.weight
        self.gradient_checkpointing = False
        self.loss_impl: LossImpl = "auto"  # see lmforge/model/loss.py
        self.loss_chunk_tokens: int | None = None

    def init_weights(self, seed: int | None = None) -> "CausalLM":
        """Normal(0, initializer_range) weights, zero biases, unit norms; DeepNet's beta scaling."""
        gen = torch.Generator().manual_seed(seed) if seed is not None else None
        std = self.config.initializer_range
        for name, p in self.named_parameters():
            with torch.no_grad():
                if name.endswith("norm.weight"):
                    p.fill_(1.0)
                elif name.endswith(".bias"):
                    p.zero_()
                else:
                    p.copy_(torch.randn(p.shape, generator=gen) * std)
                    if self.config.deepnorm and name.split(".")[-2] in (
                            "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"):
                        p.mul_((8 * self.config.num_hidden_layers) ** -0.25)
        return self

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor | None = None,
                position_ids: torch.Tensor | None = None, cache: KVCache | None = None,
                return_hidden: bool = False, labels: torch.Tensor | None = None,
                output: str = "loss", document_ids: torch.Tensor | None = None) -> torch.Tensor:
        """Logits (B, T, V). `attention_mask` is (B, K) with 1 for real tokens (K = past + T),
        or a ready (B, 1, T, K) boolean mask (e.g. packed samples); None means plain causal.
        `position_ids` is (B, T), or (B, 2, T) for GLM's 2D positions. `document_ids` (B, T)
        keeps attention inside each document of a packed row, positions restarting per document.
        With `labels` (aligned with the inputs, -100 ignored) the logits are never materialized:
        `output="loss"` gives the mean next-token cross-entropy, `"token_logprobs"` the (B, T-1)
        log-probabilities of labels[:, 1:] (0 where ignored)."""
        if document_ids is not None:
            attention_mask = document_mask(document_ids, window=self.config.sliding_window)
            position_ids = document_positions(document_ids) if position_ids is None else position_ids
        position_ids, mask = self._positions_and_mask(input_ids, attention_mask, position_ids, cache)
        x = self.model.embed_tokens(input_ids)
        cos, sin = self.model.rotary_emb(position_ids, x.dtype)
        for i, layer in enumerate(self.model.layers):
            if self.gradient_checkpointing and self.training:
                x = torch.utils.checkpoint.checkpoint(layer, x, cos, sin, mask, cache, i,
                                                      use_reentrant=False)
            else:
                x = layer(x, cos, sin, mask, cache, i)
        if cache is not None:
            cache.advance(input_ids.shape[1])
        x = self.model.norm(x)
        if labels is not None:
            return self.label_output(x, labels, output)
        return x if return_hidden else self.lm_head(x)

    def _positions_and_mask(self, input_ids, attention_mask, position_ids, cache):
        b, t = input_ids.shape
        past = cache.length if cache is not None else 0
        if position_ids is None:
            if attention_mask is not None and attention_mask.dim() == 2:
                position_ids = (attention_mask.long().cumsum(-1) - 1).clamp(min=0)[:, -t:]
            else:
                position_ids = torch.arange(past, past + t, device=input_ids.device).expand(b, t)
        mask = attention_mask
        if mask is not None and not isinstance(mask, torch.Tensor):
            return position_ids, mask  # a FlexAttention BlockMask
        if mask is not None and mask.dim() == 2:
            mask = _attention_mask(mask, t, past)
        elif mask is None and past > 0:
            mask = None if t == 1 else _attention_mask(
                torch.ones(b, past + t, dtype=torch.bool, device=input_ids.device), t, past)
        window = self.config.sliding_window
        if window and past + t > window:
            mask = sliding_window_mask(mask, b, t, past, window, input_ids.device)
        return position_ids, mask

    def label_output(self, hidden: torch.Tensor, labels: torch.Tensor, output: str = "loss") -> torch.Tensor:
        """Next-token loss or per-token label log-probs from final hidden states (B, T, H)."""
        h, target = hidden[:, :-1], labels[:, 1:]
        vocab = self.config.vocab_size
        if type(self.lm_head) is not nn.Linear or use_full_logits(  # e.g. an adapter-wrapped head
                self.loss_impl, target.numel(), vocab, hidden.device, self.loss_chunk_tokens):
            # whole rows through the head, as generation does; the labels shift, not the logits
            logits, shifted = self.lm_head(hidden), F.pad(labels[:, 1:], (0, 1), value=IGNORE)
            if output == "token_logprobs":
                return masked_logprobs(logits, shifted)[:, :-1]
            return causal_lm_loss(logits, shifted, shift=False)
        if output == "token_logprobs":
            return token_logprobs(h, self.lm_head.weight, target, self.loss_chunk_tokens)
        if output != "loss":
            raise ValueError(f"output must be 'loss' or 'token_logprobs', not {output!r}")
        return linear_cross_entropy(h.reshape(-1, h.shape[-1]), self.lm_head.weight, target.reshape(-1),
                                    self.loss_impl, self.loss_chunk_tokens)

    def aux_loss(self) -> torch.Tensor | None:
        """MoE load-balancing loss of the last forward pass (None for dense models)."""
        losses = [layer.block_sparse_moe.last_aux_loss for layer in self.model.layers
                  if hasattr(layer, "block_sparse_moe")
                  and layer.block_sparse_moe.last_aux_loss is not None]
        return torch.stack(losses).mean() if losses else None

    def num_parameters(self) -> int:
        return sum(p.numel() for p in self.parameters())


def build_model(cfg: ModelConfig, seed: int | None = 0, device: str | torch.device = "cpu",
                dtype: torch.dtype = torch.float32) -> CausalLM:
    """A freshly initialised model (weights drawn on CPU so a seed gives the same model anywhere)."""
    model = CausalLM(cfg).init_weights(seed)
    return model.to(device=device, dtype=dtype)


def causal_lm_loss(logits: torch.Tensor, labels: torch.Tensor, ignore_index: int = -100,
                   reduction: str = "mean", shift: bool = True) -> torch.Tensor:
    """Next-token cross-entropy from full logits; `labels` are aligned with inputs and shifted
    here (unless shift=False). Training uses the model's chunked path instead (labels=...)."""
    if shift:
        logits, labels = logits[:, :-1], labels[:, 1:]
    logits = logits.float()
    return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), labels.reshape(-1),
                           ignore_index=ignore_index, reduction=reduction)
