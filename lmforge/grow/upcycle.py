"""Sparse upcycling (Komatsuzaki et al. 2022): a dense model becomes a Mixtral-style MoE whose
every expert is a copy of the layer's MLP. With identical experts and top-k weights that sum to
one, the MoE computes exactly the dense function until training separates the experts.
`run_upcycle(UpcycleConfig)` is the operation behind `lmforge grow upcycle` and the
`grow_upcycle` stage."""

from __future__ import annotations

from pathlib import Path

import torch
from pydantic import ConfigDict, Field

from lmforge.errors import UserError
from lmforge.grow.slices import folder_hash
from lmforge.model.folder import ModelFolder
from lmforge.model.io import load_model, save_model
from lmforge.model.transformer import CausalLM

_EXPERT_NAMES = {"gate_proj": "w1", "down_proj": "w2", "up_proj": "w3"}


class UpcycleConfig(ModelFolder):
    """Dense `model` -> Mixtral-layout MoE in `out`, every expert a copy of the layer's MLP."""

    model_config = ConfigDict(extra="forbid")
    out: str = Field(description="the MoE model folder")
    experts: int = Field(8, gt=1, description="experts per layer")
    top_k: int = Field(2, gt=0, description="experts each token is routed to")
    router_std: float = Field(0.01, ge=0, description="router init std (outputs equal the dense model either way)")


def upcycle_model(dense: CausalLM, experts: int, top_k: int, router_std: float = 0.01,
                  seed: int = 0) -> CausalLM:
    cfg = dense.config
    if cfg.num_local_experts:
        raise UserError("the model is already a mixture of experts")
    if experts < 1 or not 1 <= top_k <= experts:
        raise UserError(f"need experts >= 1 and 1 <= top-k <= experts (got {experts}, {top_k})")
    moe_cfg = cfg.model_copy(update={"num_local_experts": experts, "num_experts_per_tok": top_k})
    with torch.device("meta"):
        moe = CausalLM(moe_cfg)
    gen = torch.Generator().manual_seed(seed)
    sd: dict[str, torch.Tensor] = {}
    for name, t in dense.state_dict().items():
        if ".mlp." not in name:
            sd[name] = t.clone()
            continue
        prefix, rest = name.split(".mlp.")
        proj = rest.split(".")[0]
        for e in range(experts):
            sd[f"{prefix}.block_sparse_moe.experts.{e}.{_EXPERT_NAMES[proj]}.weight"] = t.clone()
        router = f"{prefix}.block_sparse_moe.gate.weight"
        if router not in sd:
            sd[router] = torch.randn(experts, cfg.hidden_size, generator=gen).to(t.dtype) * router_std
    if cfg.tie_word_embeddings:
        sd.pop("lm_head.weight", None)
    moe.load_state_dict(sd, strict=not cfg.tie_word_embeddings, assign=True)
    if cfg.tie_word_embeddings:
        moe.lm_head.weight = moe.model.embed_tokens.weight
    moe.model.rotary_emb = type(dense.model.rotary_emb)(cfg)
    return moe.eval()


def upcycle(model_dir: str | Path, out: str | Path, experts: int = 8, top_k: int = 2,
            router_std: float = 0.01) -> Path:
    """`lmforge grow upcycle`: write the upcycled Mixtral-layout folder."""
    moe = upcycle_model(load_model(model_dir), experts, top_k, router_std)
    return save_model(moe, out, created_by="lmforge grow upcycle", parent=model_dir,
                      details={"recipe": {"method": "upcycle", "experts": experts, "top_k": top_k,
                                          "router_std": router_std},
                               "source_hashes": {str(model_dir): folder_hash(model_dir)}},
                      copy_from=model_dir)


def run_upcycle(cfg: UpcycleConfig) -> Path:
    """`lmforge grow upcycle`: the MoE folder."""
    return upcycle(cfg.model, cfg.out, cfg.experts, cfg.top_k, cfg.router_std)
