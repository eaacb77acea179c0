"""torchrun integration: the process group and one strategy object per way of distributing.

`strategy(kind, device)` joins the process group when launched by torchrun and returns:
- `Strategy`: one process; every hook is a no-op,
- `DDP`: replicated model, gradients all-reduced once per optimizer step,
- `FSDP2`: each layer, then the root, sharded with `fully_shard`; the model is gathered to save.
The trainer calls only these methods, so it has no branch per kind.
"""

from __future__ import annotations

import os
from contextlib import AbstractContextManager, contextmanager, nullcontext
from dataclasses import dataclass
from typing import Any, Iterator

import torch
import torch.distributed as dist
from torch import nn
from torch.nn.parallel import DistributedDataParallel

from lmforge.model.transformer import CausalLM
from lmforge.train.checkpoint import unsharded


@dataclass
class Dist:
    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def enabled(self) -> bool:
        return self.world_size > 1

    @property
    def main(self) -> bool:
        return self.rank == 0


def init_distributed(device_type: str) -> Dist:
    """Join the process group when launched by torchrun (WORLD_SIZE > 1)."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world == 1:
        return Dist()
    if not dist.is_initialized():
        dist.init_process_group(backend="nccl" if device_type == "cuda" else "gloo")
    local = int(os.environ.get("LOCAL_RANK", "0"))
    if device_type == "cuda":
        torch.cuda.set_device(local)
    return Dist(rank=dist.get_rank(), world_size=world, local_rank=local)


class Strategy:
    """A single process: the model as is, metrics as they are, nothing to clean up."""

    def __init__(self, d: Dist, device: torch.device) -> None:
        self.dist = d
        self.device = torch.device("cuda", d.local_rank) if d.enabled and device.type == "cuda" else device

    @property
    def rank(self) -> int:
        return self.dist.rank

    @property
    def world_size(self) -> int:
        return self.dist.world_size

    @property
    def main(self) -> bool:
        return self.dist.main

    def wrap(self, model: nn.Module) -> nn.Module:
        return model

    def accumulating(self, model: nn.Module, last: bool) -> AbstractContextManager:
        """Around one micro-batch's backward: gradients are synchronised only when `last`."""
        return nullcontext()

    def mean(self, value: float) -> float:
        """The mean of `value` over all processes."""
        return value

    def gather(self, obj: Any) -> Any:
        """This process's `obj` (one per process, as a list, when distributed)."""
        return obj

    def pick(self, gathered: Any) -> Any:
        """This process's entry of what `gather` returned (a saved list may come from another world)."""
        return gathered[self.rank] if isinstance(gathered, list) else gathered

    def full_state(self, model: nn.Module, optimizer: torch.optim.Optimizer) -> tuple[dict, dict]:
        """Full (unsharded) model and optimizer state dicts, gathered on CPU (all ranks call)."""
        from torch.distributed.checkpoint.state_dict import (StateDictOptions, get_model_state_dict,
                                                             get_optimizer_state_dict)  # 0.6 s (DTensor)

        opts = StateDictOptions(full_state_dict=True, cpu_offload=True)
        return (get_model_state_dict(model, options=opts),
                get_optimizer_state_dict(model, optimizer, options=opts))

    def load_state(self, model: nn.Module, optimizer: torch.optim.Optimizer, model_sd: dict,
                   optim_sd: dict) -> None:
        from torch.distributed.checkpoint.state_dict import (StateDictOptions, set_model_state_dict,
                                                             set_optimizer_state_dict)  # 0.6 s (DTensor)

        opts = StateDictOptions(full_state_dict=True, broadcast_from_rank0=False)
        set_model_state_dict(model, model_sd, options=opts)
        set_optimizer_state_dict(model, optimizer, optim_sd, options=opts)

    def saveable(self, inner: CausalLM, model_sd: dict[str, torch.Tensor]) -> CausalLM:
        """A plain model to write to disk, given the gathered full state dict."""
        return inner

    def cleanup(self, ok: bool = True) -> None:
        """Leave the process group; after a failure, without waiting for the other ranks."""


class DDP(Strategy):
    """DistributedDataParallel: gradients all-reduced on the last micro-batch of each step."""

    def wrap(self, model: nn.Module) -> nn.Module:
        ids = [self.device.index] if self.device.type == "cuda" else None
        self._wrapped = DistributedDataParallel(model, device_ids=ids)
        return self._wrapped

    def accumulating(self, model: nn.Module, last: bool) -> AbstractContextManager:
        return nullcontext() if last else model.no_sync()

    def mean(self, value: float) -> float:
        t = torch.tensor([value], dtype=torch.float64, device=self.device)
        dist.all_reduce(t)
        return float(t.item()) / self.world_size

    def gather(self, obj: Any) -> Any:
        out = [None] * self.world_size
        dist.all_gather_object(out, obj)
        return out

    def cleanup(self, ok: bool = True) -> None:
        if dist.is_initialized():
            if ok:
                dist.barrier()
            self._drop_reducer()
            dist.destroy_process_group()

    def _drop_reducer(self) -> None:
        """Free DDP's reducer while the process group is still registered.

        Otherwise the reducer, freed later with the traceback, may hold the group's last reference:
        gloo's destructor then joins a worker thread that waits for the GIL this thread holds
        (a deadlock seen in about 1 of 15 failing runs under load)."""
        wrapped = getattr(self, "_wrapped", None)
        if wrapped is not None and hasattr(wrapped, "reducer"):
            del wrapped.reducer


class FSDP2(DDP):
    """fully_shard on each layer, then the root: one reduce-scatter per optimizer step."""

    def wrap(self, model: nn.Module) -> nn.Module:
        from torch.distributed.fsdp import fully_shard  # 0.6 s (DTensor): only under torchrun

        for layer in model.model.layers:
            fully_shard(layer)
        fully_shard(model)
        return model

    def accumulating(self, model: nn.Module, last: bool) -> AbstractContextManager:
        return _set_gradient_sync(model, last)

    def saveable(self, inner: CausalLM, model_sd: dict[str, torch.Tensor]) -> CausalLM:
        return unsharded(inner, model_sd)


@contextmanager
def _set_gradient_sync(model: nn.Module, sync: bool) -> Iterator[None]:
    model.set_requires_gradient_sync(sync)
    yield


def strategy(kind: str, device: torch.device) -> Strategy:
    """The strategy for this launch: `kind` ("ddp" or "fsdp") only matters under torchrun."""
    d = init_distributed(device.type)
    if not d.enabled:
        return Strategy(d, device)
    return FSDP2(d, device) if kind == "fsdp" else DDP(d, device)
