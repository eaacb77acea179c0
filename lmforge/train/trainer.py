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
from lmforge.errors import UserError
from lmforge.files import atomic_write_text
from lmforge.model.flops import flops_per_token, peak_flops
from lmforge.model.io import save_model
from lmforge.model.transformer import CausalLM
from lmforge.stats import t_interval
from lmforge.train import distributed as D
from lmforge.train.checkpoint import (
    checkpoints,
    load_checkpoint,
    rng_state,
    save_checkpoint,
    set_rng_state,
)
from lmforge.train.config import TrainConfig
from lmforge.train.objectives import DocumentMasked, Objective
from lmforge.train.optim import apply_freezing, build_optimizer, lr_factor


class BatchSource(Protocol):
    def next_batch(self) -> dict[str, torch.Tensor]: ...
    def state_dict(self) -> dict[str, Any]: ...
    def load_state_dict(self, state: dict[str, Any]) -> None: ...


class TrainingError(UserError):
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
    losses, _, metrics = evaluate_batches(model, objective, batches, device, autocast, limit)
    return sum(losses) / len(losses), metrics


def evaluate_batches(model: torch.nn.Module, objective: Objective, batches: Iterable[dict[str, torch.Tensor]],
                     device: torch.device, autocast, limit: int) -> tuple[list[float], int, dict[str, float]]:
    """Each batch's mean loss of `objective` over up to `limit` batches, the tokens they hold
    (counted as the training `tokens` column), and the metrics' means."""
    was_training = model.training
    model.eval()
    losses, sums, tokens = [], {}, 0
    with torch.no_grad(), autocast():
        for i, batch in enumerate(batches):
            if i >= limit:
                break
            loss, metrics = objective(model, _to(batch, device))
            losses.append(float(loss))
            tokens += _count_tokens(batch)
            for k, v in metrics.items():
                sums[k] = sums.get(k, 0.0) + v
    model.train(was_training)
    if not losses:
        raise TrainingError("validation data yielded no batches")
    return losses, tokens, {k: v / len(losses) for k, v in sums.items()}


@dataclass
class _Run:
    """What one training run carries from step to step."""
    cfg: TrainConfig
    strategy: D.Strategy
    inner: CausalLM  # the unwrapped model
    model: torch.nn.Module  # wrapped for distribution
    step_model: torch.nn.Module  # compiled when asked
    optimizer: torch.optim.Optimizer
    scheduler: torch.optim.lr_scheduler.LambdaLR
    objective: Objective
    data: BatchSource
    autocast: Callable[[], Any]
    accum: int
    trainable: list[str]
    flops_per_token: int
    peak_flops: float | None  # bf16 dense peak FLOP/s of one device, for MFU (None: unknown)
    step: int = 0
    tokens: int = 0
    skipped: int = 0
    bad_in_row: int = 0
    last_loss: float | None = None
    val_loss: float | None = None
    t_last: float = 0.0

    @property
    def device(self) -> torch.device:
        return self.strategy.device


def train(model: CausalLM, objective: Objective, train_data: BatchSource, cfg: TrainConfig,
          run_dir: str | Path, val_data: Callable[[], Iterable[dict[str, torch.Tensor]]] | None = None,
          tokenizer_dir: str | Path | None = None, parent: str | Path | None = None,
          created_by: str = "lmforge pretrain", details: dict[str, Any] | None = None,
          on_step: Callable[[dict[str, Any]], None] | None = None) -> TrainResult:
    """Train until cfg.max_steps, resuming from run_dir's latest checkpoint if there is one.

    The process group is left and the progress bar closed however the run ends."""
    run_dir = Path(run_dir)
    strategy = D.strategy(cfg.distributed, pick_device(cfg.device))
    log: _Log | None = None
    ok = False
    try:
        run = _setup(model, objective, train_data, cfg, strategy, run_dir)
        log = _Log(cfg, run, run_dir, created_by.split()[-1])
        interrupted = _loop(run, log, val_data, on_step,
                            lambda: _checkpoint(run, run_dir, tokenizer_dir))
        if not interrupted:
            _save_final(run, run_dir / "model", created_by=created_by, parent=parent,
                        copy_from=tokenizer_dir, details=details)
        ok = True
    finally:
        if log is not None:
            log.close()
        strategy.cleanup(ok)
    return TrainResult(step=run.step, tokens=run.tokens, loss=run.last_loss, val_loss=run.val_loss,
                       model_dir=run_dir / "model", interrupted=interrupted, skipped_steps=run.skipped)


def _setup(model: CausalLM, objective: Objective, data: BatchSource, cfg: TrainConfig,
           strategy: D.Strategy, run_dir: Path) -> _Run:
    """Seed, place, freeze, wrap and compile the model, build the optimizer, resume if possible."""
    device = strategy.device
    use_bf16 = cfg.precision == "bf16" or (cfg.precision == "auto" and device.type == "cuda")
    autocast = (lambda: torch.autocast(device.type, dtype=torch.bfloat16)) if use_bf16 else nullcontext
    if strategy.main:
        run_dir.mkdir(parents=True, exist_ok=True)
        dump_config(cfg, run_dir / "train_config.yaml")
    torch.manual_seed(cfg.seed)
    model.to(device)
    trainable = apply_freezing(model, cfg)
    model.gradient_checkpointing = cfg.activation_checkpointing
    model.loss_impl, model.loss_chunk_tokens = cfg.loss_impl, cfg.loss_chunk_tokens
    wrapped = strategy.wrap(model)
    optimizer = build_optimizer(wrapped, cfg)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda s: lr_factor(s, cfg))
    run = _Run(cfg=cfg, strategy=strategy, inner=model, model=wrapped,
               step_model=torch.compile(wrapped) if cfg.compile else wrapped, optimizer=optimizer,
               scheduler=scheduler, objective=objective,
               data=DocumentMasked(data) if cfg.document_mask else data, autocast=autocast,
               accum=cfg.accumulation(strategy.world_size), trainable=trainable,
               flops_per_token=flops_per_token(model.config, cfg.seq_len), peak_flops=_peak_flops(device))
    found = checkpoints(run_dir)
    if found:
        _resume(run, found[-1])
    return run


def _resume(run: _Run, path: Path) -> None:
    """Weights, optimizer, schedule, data position, RNG and counters from a checkpoint."""
    weights, state = load_checkpoint(path)
    run.strategy.load_state(run.model, run.optimizer, _with_tied(run.inner, weights), state["optimizer"])
    run.scheduler.load_state_dict(state["scheduler"])
    run.data.load_state_dict(state["data"])
    set_rng_state(run.strategy.pick(state["rng"]))
    run.step, run.tokens, run.skipped = state["step"], state["tokens"], state.get("skipped", 0)
    if run.strategy.main:
        print(f"resumed from {path} at step {run.step}")
        _warn_changed(state.get("config", {}), run.cfg, run.strategy.world_size, state.get("world_size", 1))


def _loop(run: _Run, log: "_Log", val_data: Callable[[], Iterable[dict[str, torch.Tensor]]] | None,
          on_step: Callable[[dict[str, Any]], None] | None, checkpoint: Callable[[], None]) -> bool:
    """Steps until max_steps; True when a signal stopped the run early (after a checkpoint)."""
    cfg = run.cfg
    run.model.train()
    run.t_last = time.time()
    with _StopSignal() as stop:
        while run.step < cfg.max_steps:
            row = _optimizer_step(run)
            if row is None:
                continue
            at_end = run.step == cfg.max_steps
            if val_data is not None and ((cfg.eval_every and run.step % cfg.eval_every == 0) or at_end):
                _eval_into(run, row, val_data)
            log.record(row, at_end)
            if on_step is not None:
                on_step(row)
            if (cfg.save_every and run.step % cfg.save_every == 0) or stop.hit:
                checkpoint()
            if stop.hit and not at_end:
                return True
    return False


def _micro_batches(run: _Run) -> tuple[float, int, dict[str, float]]:
    """Forward and backward over one step's micro-batches: mean loss, tokens, mean metrics."""
    loss_sum, step_tokens, extra = 0.0, 0, {}
    for micro in range(run.accum):
        batch = _to(run.data.next_batch(), run.device)
        step_tokens += _count_tokens(batch)
        with run.strategy.accumulating(run.model, last=micro == run.accum - 1):
            with run.autocast():
                loss, metrics = run.objective(run.step_model, batch)
            (loss / run.accum).backward()
        loss_sum += float(loss.detach()) / run.accum
        for k, v in metrics.items():
            extra[k] = extra.get(k, 0.0) + v / run.accum
    return loss_sum, step_tokens, extra


def _optimizer_step(run: _Run) -> dict[str, Any] | None:
    """One optimizer step (accumulate, clip, step, schedule) and its metrics row; None when the
    loss was non-finite and the step was skipped."""
    cfg, world = run.cfg, run.strategy.world_size
    run.optimizer.zero_grad(set_to_none=True)
    loss_sum, step_tokens, extra = _micro_batches(run)
    loss_val = run.strategy.mean(loss_sum)
    if not math.isfinite(loss_val):
        _skip(run)
        return None
    run.bad_in_row = 0
    grad_norm = None
    if cfg.grad_clip > 0:
        grad_norm = float(torch.nn.utils.clip_grad_norm_(
            [p for p in run.model.parameters() if p.requires_grad], cfg.grad_clip))
    lr = run.scheduler.get_last_lr()[0]  # the rate this step uses
    run.optimizer.step()
    run.scheduler.step()
    run.step += 1
    run.tokens += step_tokens * world
    run.last_loss = loss_val
    now = time.time()
    tok_s = step_tokens * world / max(now - run.t_last, 1e-9)
    run.t_last = now
    row: dict[str, Any] = {"step": run.step, "loss": loss_val, "lr": lr, "tokens": run.tokens,
                           "tokens_per_s": tok_s, **extra}
    if grad_norm is not None:
        row["grad_norm"] = grad_norm
    if run.peak_flops:
        row["mfu"] = run.flops_per_token * tok_s / (run.peak_flops * world)
    return row


def _peak_flops(device: torch.device) -> float | None:
    return peak_flops(torch.cuda.get_device_name(device)) if device.type == "cuda" else None


def _skip(run: _Run) -> None:
    """Drop a non-finite step's gradients; stop after max_bad_steps of them in a row."""
    run.bad_in_row += 1
    run.skipped += 1
    run.optimizer.zero_grad(set_to_none=True)
    if run.bad_in_row >= run.cfg.max_bad_steps:
        raise TrainingError(f"loss was non-finite for {run.bad_in_row} steps in a row (step "
                            f"{run.step}); lower lr (now {run.cfg.lr}) or check the data")


def _eval_into(run: _Run, row: dict[str, Any],
               val_data: Callable[[], Iterable[dict[str, torch.Tensor]]]) -> None:
    """Validation loss (mean over processes) and metrics, added to the step's row, with its n
    (`val_batches`, `val_tokens`, over all processes) and its 95% interval `val_loss_ci95_lo`/`_hi`:
    Student's t over the per-batch mean losses (from two batches on; no extra forward pass)."""
    losses, tokens, val_metrics = evaluate_batches(run.model, run.objective, val_data(), run.device,
                                                   run.autocast, run.cfg.eval_batches)
    run.val_loss = run.strategy.mean(sum(losses) / len(losses))
    if run.strategy.world_size > 1:
        gathered = run.strategy.gather((losses, tokens))
        losses, tokens = [x for part, _ in gathered for x in part], sum(t for _, t in gathered)
    row.update(val_loss=run.val_loss, val_batches=len(losses), val_tokens=tokens)
    if len(losses) > 1:  # two scalars, so TensorBoard/W&B can draw the band
        _, row["val_loss_ci95_lo"], row["val_loss_ci95_hi"] = t_interval(losses)
    row.update({f"val_{k}": v for k, v in val_metrics.items()})


def _checkpoint(run: _Run, run_dir: Path, tokenizer_dir: str | Path | None) -> None:
    """All ranks gather the full state; the main one writes it (atomically)."""
    model_sd, optim_sd = run.strategy.full_state(run.model, run.optimizer)
    rngs = run.strategy.gather(rng_state())
    state = {"step": run.step, "tokens": run.tokens, "skipped": run.skipped, "optimizer": optim_sd,
             "config": run.cfg.model_dump(mode="json"), "world_size": run.strategy.world_size,
             "scheduler": run.scheduler.state_dict(), "data": run.data.state_dict(), "rng": rngs}
    if run.strategy.main:
        save_checkpoint(run_dir, run.step, run.strategy.saveable(run.inner, model_sd), state,
                        run.cfg.keep_last, copy_from=tokenizer_dir)


def _save_final(run: _Run, out: Path, details: dict[str, Any] | None, **save_kw: Any) -> None:
    """The trained model as a model folder (all ranks gather, the main one writes)."""
    model_sd, _ = run.strategy.full_state(run.model, run.optimizer)
    if run.strategy.main:
        save_model(run.strategy.saveable(run.inner, model_sd), out, **save_kw,
                   details={**(details or {}), "steps": run.step, "tokens": run.tokens,
                            "final_loss": run.last_loss, "val_loss": run.val_loss,
                            "trainable_parameters": len(run.trainable)})


def drop_rows_after(metrics: Path, step: int) -> int:
    """Before a resume from `step`: remove the rows a killed run logged after its last checkpoint
    (they are re-done and logged again) and a line the kill cut short; returns how many went."""
    if not metrics.is_file():
        return 0
    kept, dropped = [], 0
    for line in metrics.read_text().splitlines():
        try:
            row = json.loads(line)
        except json.JSONDecodeError:
            dropped += 1
            continue
        if row.get("step", 0) <= step:
            kept.append(line + "\n")
        else:
            dropped += 1
    if dropped:
        atomic_write_text(metrics, "".join(kept))
    return dropped


class _Log:
    """Metrics as JSON lines (plus TensorBoard/W&B when asked) and the progress bar; the main
    process only. `close` always runs (see `train`)."""

    def __init__(self, cfg: TrainConfig, run: _Run, run_dir: Path, desc: str) -> None:
        self.cfg, self.main = cfg, run.strategy.main
        self.writer = _trackers(cfg, run_dir) if self.main else None
        self.bar = tqdm(total=cfg.max_steps, initial=run.step, desc=desc, disable=not self.main,
                        unit="step", dynamic_ncols=True, mininterval=2.0)
        if self.main and run.step > 0:
            drop_rows_after(run_dir / "metrics.jsonl", run.step)
        self.file = (run_dir / "metrics.jsonl").open("a") if self.main else None

    def record(self, row: dict[str, Any], at_end: bool) -> None:
        if not self.main:
            return
        if row["step"] % self.cfg.log_every == 0 or "val_loss" in row or at_end:
            self.file.write(json.dumps(row) + "\n")
            self.file.flush()
            if self.writer is not None:
                self.writer(row)
        self.bar.set_postfix(loss=f"{row['loss']:.3f}", lr=f"{row['lr']:.2e}",
                             tok_s=f"{row['tokens_per_s']:.0f}")
        self.bar.update(1)

    def close(self) -> None:
        self.bar.close()
        if self.file is not None:
            self.file.close()


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
