"""LoRA for RL: the policy's adapters are `lmforge sft`'s (lmforge.sft.lora), and the frozen KL
reference is the same policy with its adapters switched off (no second copy of the weights in
memory, as TRL and peft do): with LoRA the base weights never change, so the policy without
its adapters is exactly the start model."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from torch import nn

from lmforge.errors import require_extra


def adapter_layers(model: nn.Module) -> list[nn.Module]:
    """The peft adapter layers injected into `model`."""
    require_extra("peft", "LoRA", "lora")
    from peft.tuners.tuners_utils import BaseTunerLayer  # optional dependency

    return [m for m in model.modules() if isinstance(m, BaseTunerLayer)]


@contextmanager
def adapters_off(model: nn.Module) -> Iterator[None]:
    """Every adapter of `model` disabled inside the block (the base layers alone), re-enabled after."""
    layers = adapter_layers(model)
    for m in layers:
        m.enable_adapters(False)
    try:
        yield
    finally:
        for m in layers:
            m.enable_adapters(True)


class AdaptersOff:
    """The policy with its adapters off, in eval mode: the KL reference the rollouts call in place
    of a frozen copy (only `parameters`, `to` and calling it are used)."""

    def __init__(self, policy: nn.Module):
        if not adapter_layers(policy):
            raise ValueError("the policy has no LoRA adapters to switch off")
        self.policy = policy

    def parameters(self) -> Iterator[nn.Parameter]:
        return self.policy.parameters()

    def to(self, *args: Any, **kw: Any) -> AdaptersOff:
        return self  # it lives where the policy lives

    def __call__(self, *args: Any, **kw: Any) -> Any:
        was = self.policy.training
        self.policy.eval()
        try:
            with adapters_off(self.policy):
                return self.policy(*args, **kw)
        finally:
            self.policy.train(was)
