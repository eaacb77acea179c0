"""LoRA on our CausalLM through peft (adapter layers injected into the model), and
merge-into-base before saving so the result is a plain HF checkpoint again.

peft is optional (`pip install 'lmforge[lora]'`); without it, asking for LoRA is a user error."""

from __future__ import annotations

import torch

from lmforge.errors import require_extra

TARGETS = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]


def add_lora(model, r: int = 8, alpha: int = 16, dropout: float = 0.0, targets: list[str] | None = None,
             seed: int = 0):
    """Inject LoRA adapters in place; only adapter weights stay trainable. The adapters' random
    init is drawn from `seed` (the global RNG is left as it was), so a config always starts the same."""
    require_extra("peft", "LoRA", "lora")
    from peft import LoraConfig, inject_adapter_in_model  # optional dependency

    cfg = LoraConfig(r=r, lora_alpha=alpha, lora_dropout=dropout, target_modules=targets or TARGETS)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return inject_adapter_in_model(cfg, model)


def merge_lora(model):
    """Fold W + (alpha/r) * B @ A into each target weight and put the plain Linear back."""
    require_extra("peft", "LoRA", "lora")
    from peft.tuners.lora import LoraLayer  # optional dependency

    for name, module in list(model.named_modules()):
        if isinstance(module, LoraLayer):
            module.merge()
            parent, _, child = name.rpartition(".")
            setattr(model.get_submodule(parent), child, module.get_base_layer())
    for p in model.parameters():
        p.requires_grad_(True)
    return model
