"""The one training loop: pretraining, continued pretraining, SFT, DPO and GLM all run here.

The loop owns precision, accumulation, clipping, schedule, freezing, logging, evaluation,
checkpoints (atomic, exact resume) and torchrun distribution; an objective only maps
(model, batch) to (loss, metrics), and a batch source only yields batches and its state.
"""

from __future__ import annotations

import json
import math
import signal
import time
import warnings
from contextlib import nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterable, Protocol

import torch
from tqdm import tqdm

from lmforge.config import dump_config
from lmforge.model.flops import flops_per_token
from lmforge.model.transformer import CausalLM
from lmforge.train import distributed as D
from lmforge.train.checkpoint import (checkpoints, load_checkpoint, rng_state, save_checkpoint, set_rng_state,
                                    unsharded)
from lmforge.train.config import TrainConfig
from lmforge.train.objectives import Objective
from lmforge.train.optim import apply_freezing, build_optimizer, lr_factor

# bf16 dense peak FLOP/s by device name fragment, for MFU.
PEAK_FLOPS = {"H200": 989e12, "H100": 989e12, "A100": 312e12, "L4": 121e12, "4090": 165e12}


class BatchSource(Protocol):
    def next_batch(self) -> dict[str, torch.Tensor]: ...
    def state_dict(self) -> dict[str, Any]: ...
    def load_state_dict(self, state: dict[str, Any]) -> None: ...


class TrainingError(RuntimeError):
    pass


@dataclass
class TrainResult:
    step: int
    tokens: int
    loss: float | None
    val_loss: float | None
    model_dir: Path
    interrupted: bool = False
    skipped_steps: int = 0


def pick_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


def _to(batch: dict[str, torch.Tensor], device: torch.device) -> dict[str, torch.Tensor]:
    return {k: v.to(device, non_blocking=True) if torch.is_tensor(v) else v for k, v in batch.items()}


def _count_tokens(batch: dict[str, torch.Tensor]) -> int:
    ids = batch.get("input_ids")
    return int(ids.numel()) if ids is not None else 0


class _StopSignal:
    """SIGTERM/SIGINT set a flag; the loop checkpoints at the end of the step and exits."""

    def __init__(self) -> None:
        self.hit = False
        self._old: dict[int, Any] = {}

    def __enter__(self):
        for sig in (signal.SIGTERM, signal.SIGINT):
            try:
                self._old[sig] = signal.signal(sig, self._handle)
            except ValueError:  # not the main thread
                pass
        return self

    def _handle(self, *_: Any) -> None:
        self.hit = True

    def __exit__(self, *exc: Any) -> None:
        for sig, old in self._old.items():
            signal.signal(sig, old)


def evaluate(model: torch.nn.Module, objective: Objective, batches: Iterable[dict[str, torch.Tensor]],
             device: torch.device, autocast, limit: int) -> tuple[float, dict[str, float]]:
    """Mean loss (and metrics) of `objective` over up to `limit` batches."""
    was_training = model.training
    model.eval()
    losses, sums, n = [], {}, 0
    with torch.no_grad(), autocast():
        for i, batch in enumerate(batches):
            if i >= limit:
                break
            loss, metrics = objective(model, _to(batch, device))
            losses.append(float(loss))
            for k, v in metrics.items():
                sums[k] = sums.get(k, 0.0) + v
            n += 1
    model.train(was_training)
    if not losses:
        raise TrainingError("validation data yielded no batches")
    return sum(losses) / len(losses), {k: v / n for k, v in sums.items()}


def train(model: CausalLM, objective: Objective, train_data: BatchSource, cfg: TrainConfig,
          run_dir: str | Path, val_data: Callable[[], Iterable[dict[str, torch.Tensor]]] | None = None,
          tokenizer_dir: str | Path | None = None, parent: str | Path | None = None,
          created_by: str = "lmforge pretrain", details: dict[str, Any] | None = None,
          on_step: Callable[[dict[str, Any]], None] | None = None) -> TrainResult:
    """Train until cfg.max_steps, resuming from run_dir's latest checkpoint if there is one."""
    run_dir = Path(run_dir)
    device = pick_device(cfg.device)
    dist = D.init_distributed(device.type)
    if dist.enabled and device.type == "cuda":
        device = torch.device("cuda", dist.local_rank)
    accum = cfg.accumulation(dist.world_size)
    use_bf16 = cfg.precision == "bf16" or (cfg.precision == "auto" and device.type == "cuda")
    autocast = (lambda: torch.autocast(device.type, dtype=torch.bfloat16)) if use_bf16 else nullcontext
    if dist.main:
        run_dir.mkdir(parents=True, exist_ok=True)
        dump_config(cfg, run_dir / "train_config.yaml")

    torch.manual_seed(cfg.seed)
    model.to(device)
    trainable = apply_freezing(model, cfg)
    model.gradient_checkpointing = cfg.activation_checkpointing
    inner = model
    model = D.wrap(model, dist, cfg.distributed, device)
    optimizer = build_optimizer(model, cfg)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda s: lr_factor(s, cfg))
    step_model = torch.compile(model) if cfg.compile else model

    step, tokens, bad_in_row, skipped = 0, 0, 0, 0
    found = checkpoints(run_dir)
    if found:
        weights, state = load_checkpoint(found[-1])
        D.load_full_state_dicts(model, optimizer, _with_tied(inner, weights), state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        train_data.load_state_dict(state["data"])
        set_rng_state(state["rng"][dist.rank] if isinstance(state["rng"], list) else state["rng"])
        step, tokens, skipped = state["step"], state["tokens"], state.get("skipped", 0)
        if dist.main:
            print(f"resumed from {found[-1]} at step {step}")
            _warn_changed(state.get("config", {}), cfg, dist.world_size, state.get("world_size", 1))

    fpt = flops_per_token(inner.config, cfg.seq_len)
    peak = next((v for k, v in PEAK_FLOPS.items() if device.type == "cuda"
                 and k in torch.cuda.get_device_name(device)), None)
    metrics_file = run_dir / "metrics.jsonl"
    writer = _trackers(cfg, run_dir) if dist.main else None
    bar = tqdm(total=cfg.max_steps, initial=step, desc=created_by.split()[-1], disable=not dist.main,
               unit="step", dynamic_ncols=True, mininterval=2.0)
    last_loss: float | None = None
    val_loss: float | None = None
    interrupted = False

    sharded = dist.enabled and cfg.distributed == "fsdp"

    def saveable(model_sd: dict[str, torch.Tensor]) -> CausalLM:
        return unsharded(inner, model_sd) if sharded else inner

    def checkpoint_now() -> None:
        model_sd, optim_sd = D.full_state_dicts(model, optimizer, dist)
        rngs = [None] * dist.world_size
        if dist.enabled:
            torch.distributed.all_gather_object(rngs, rng_state())
        else:
            rngs = rng_state()
        state = {"step": step, "tokens": tokens, "skipped": skipped, "optimizer": optim_sd,
                 "config": cfg.model_dump(mode="json"), "world_size": dist.world_size,
                 "scheduler": scheduler.state_dict(), "data": train_data.state_dict(), "rng": rngs}
        if dist.main:
            save_checkpoint(run_dir, step, saveable(model_sd), state, cfg.keep_last,
                            copy_from=tokenizer_dir)

    model.train()
    t_last = time.time()
    with _StopSignal() as stop, (metrics_file.open("a") if dist.main else nullcontext()) as log:
        while step < cfg.max_steps:
            optimizer.zero_grad(set_to_none=True)
            loss_sum, step_tokens, extra = 0.0, 0, {}
            for micro in range(accum):
                batch = _to(train_data.next_batch(), device)
                step_tokens += _count_tokens(batch)
                last = micro == accum - 1
                sync = model.no_sync() if dist.enabled and cfg.distributed == "ddp" and not last \
                    else nullcontext()
                if dist.enabled and cfg.distributed == "fsdp":
                    model.set_requires_gradient_sync(last)  # reduce-scatter once per step
                with sync:
                    with autocast():
                        loss, metrics = objective(step_model, batch)
                    (loss / accum).backward()
                loss_sum += float(loss.detach()) / accum
                for k, v in metrics.items():
                    extra[k] = extra.get(k, 0.0) + v / accum
            loss_val = D.all_mean(loss_sum, dist, device)
            if not math.isfinite(loss_val):
                bad_in_row += 1
                skipped += 1
                optimizer.zero_grad(set_to_none=True)
                if bad_in_row >= cfg.max_bad_steps:
                    raise TrainingError(f"loss was non-finite for {bad_in_row} steps in a row (step "
                                        f"{step}); lower lr (now {cfg.lr}) or check the data")
                continue
            bad_in_row = 0
            grad_norm = None
            if cfg.grad_clip > 0:
                grad_norm = float(torch.nn.utils.clip_grad_norm_(
                    [p for p in model.parameters() if p.requires_grad], cfg.grad_clip))
            lr = scheduler.get_last_lr()[0]  # the rate this step uses
            optimizer.step()
            scheduler.step()
            step += 1
            tokens += step_tokens * dist.world_size
            last_loss = loss_val
            now = time.time()
            tok_s = step_tokens * dist.world_size / max(now - t_last, 1e-9)
            t_last = now
            row: dict[str, Any] = {"step": step, "loss": loss_val, "lr": lr,
                                   "tokens": tokens, "tokens_per_s": tok_s, **extra}
            if grad_norm is not None:
                row["grad_norm"] = grad_norm
            if peak:
                row["mfu"] = fpt * tok_s / (peak * dist.world_size)
            at_end = step == cfg.max_steps
            if val_data is not None and ((cfg.eval_every and step % cfg.eval_every == 0) or at_end):
                val_loss, val_metrics = evaluate(model, objective, val_data(), device, autocast,
                                                 cfg.eval_batches)
                val_loss = D.all_mean(val_loss, dist, device)
                row["val_loss"] = val_loss
                row.update({f"val_{k}": v for k, v in val_metrics.items()})
            if dist.main:
                if step % cfg.log_every == 0 or "val_loss" in row or at_end:
                    log.write(json.dumps(row) + "\n")
                    log.flush()
                    if writer is not None:
                        writer(row)
                bar.set_postfix(loss=f"{loss_val:.3f}", lr=f"{row['lr']:.2e}", tok_s=f"{tok_s:.0f}")
                bar.update(1)
            if on_step is not None:
                on_step(row)
            if (cfg.save_every and step % cfg.save_every == 0) or stop.hit:
                checkpoint_now()
            if stop.hit and not at_end:
                interrupted = True
                break
    bar.close()
    out = run_dir / "model"
    if not interrupted:
        model_sd, _ = D.full_state_dicts(model, optimizer, dist)
        if dist.main:
            from lmforge.model.io import save_model

            save_model(saveable(model_sd), out, created_by=created_by, parent=parent, copy_from=tokenizer_dir,
                       details={**(details or {}), "steps": step, "tokens": tokens,
                                "final_loss": last_loss, "val_loss": val_loss,
                                "trainable_parameters": len(trainable)})
    D.cleanup(dist)
    return TrainResult(step=step, tokens=tokens, loss=last_loss, val_loss=val_loss, model_dir=out,
                       interrupted=interrupted, skipped_steps=skipped)


def _warn_changed(saved: dict[str, Any], cfg: TrainConfig, world: int, saved_world: int) -> None:
    """Resuming with another batch shape, seed or schedule is allowed, but no longer exact."""
    now = cfg.model_dump(mode="json")
    keys = ("seed", "batch_size", "seq_len", "global_batch_tokens", "grad_accum", "lr", "schedule",
            "warmup_steps")
    changed = {k: f"{saved[k]} -> {now[k]}" for k in keys if k in saved and saved[k] != now[k]}
    if world != saved_world:
        changed["processes"] = f"{saved_world} -> {world}"
    if changed:
        warnings.warn(f"resuming with changed settings {changed}: the run continues, but will not "
                      "match an uninterrupted one (use --fresh to start over)", stacklevel=3)


def _with_tied(model: CausalLM, weights: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    if model.config.tie_word_embeddings and "lm_head.weight" not in weights:
        weights = {**weights, "lm_head.weight": weights["model.embed_tokens.weight"]}
    return weights


def _trackers(cfg: TrainConfig, run_dir: Path) -> Callable[[dict[str, Any]], None] | None:
    """TensorBoard and/or W&B writers when configured (optional dependencies)."""
    sinks = []
    if cfg.tensorboard:
        from torch.utils.tensorboard import SummaryWriter

        tb = SummaryWriter(str(run_dir / "tensorboard"))
        sinks.append(lambda row: [tb.add_scalar(k, v, row["step"]) for k, v in row.items()
                                  if isinstance(v, (int, float)) and k != "step"])
    if cfg.wandb_project:
        import wandb

        wandb.init(project=cfg.wandb_project, dir=str(run_dir), config=cfg.model_dump())
        sinks.append(lambda row: wandb.log(row, step=row["step"]))
    if not sinks:
        return None
    return lambda row: [s(row) for s in sinks]
