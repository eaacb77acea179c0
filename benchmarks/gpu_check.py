"""One prepared GPU check (issue 21): every GPU measurement in one run, one table, one JSON.

    python benchmarks/gpu_check.py --out results.json            # the GPU run (< 8 minutes, one H200)
    python benchmarks/gpu_check.py --tiny --out /tmp/check.json  # the same steps, tiny shapes, on CPU

Steps: training tokens/s and MFU of a ~1B Llama shape (bf16 autocast, fp32 master weights, fused
AdamW, lmforge's model and objective) eager and torch.compile'd at seq 2,048 and 4,096, with
activation checkpointing, with FSDP2 on one GPU (torchrun --nproc_per_node 1), and with document
masking (FlexAttention); peak memory of the 125,700-vocabulary model with the chunked loss vs full
logits; multiple-choice questions/s (lmforge.eval); generation tokens/s of the serving engine at 1
and 32 streams. Synthetic random tokens, nothing downloaded, nothing installed. Each step is
guarded: a failure records its error and the run goes on; steps past --budget-s are skipped.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import threading
import time
import traceback
from contextlib import nullcontext
from pathlib import Path

import torch

from lmforge.files import atomic_write_json
from lmforge.model.config import ModelConfig
from lmforge.model.flops import flops_per_token, param_count, peak_flops
from lmforge.model.transformer import CausalLM, document_mask
from lmforge.train.config import TrainConfig
from lmforge.train.objectives import causal_lm, with_documents
from lmforge.train.optim import build_optimizer

LLAMA_1B = dict(hidden_size=2048, intermediate_size=5632, num_hidden_layers=22, num_attention_heads=32,
                num_key_value_heads=4, vocab_size=32000)  # TinyLlama 1.1B
TINY = dict(hidden_size=64, intermediate_size=160, num_hidden_layers=2, num_attention_heads=4,
            num_key_value_heads=2, vocab_size=512)
SIZES = {  # seqs, tokens per step, big vocabulary, eval questions, new tokens per stream, steps
    "full": dict(shape=LLAMA_1B, seqs=(2048, 4096), tokens=32768, big_vocab=125_700, questions=200,
                 new_tokens=128, warmup=10, steps=20),
    "tiny": dict(shape=TINY, seqs=(64, 128), tokens=256, big_vocab=125_700, questions=8,
                 new_tokens=8, warmup=1, steps=3),
}


def model_config(shape: dict, seq: int, **over) -> ModelConfig:
    return ModelConfig(**{**shape, **over}, max_position_embeddings=max(seq, 4096), tie_word_embeddings=False)


def build(cfg: ModelConfig, device: torch.device, dtype: torch.dtype = torch.float32) -> CausalLM:
    """Constructed on the device (the default init, seeded; no CPU round trip)."""
    torch.manual_seed(0)
    with torch.device(device):
        model = CausalLM(cfg)
    return model.to(dtype)


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def train_rate(model, cfg: ModelConfig, seq: int, size: dict, device: torch.device, compile_: str | None = None,
               checkpointing: bool = False, docs: bool = False, loss_impl: str = "auto") -> dict:
    """Tokens/s (median step over the timed steps), MFU and peak memory of training steps."""
    batch_size = max(1, size["tokens"] // seq)
    model.train()
    model.gradient_checkpointing, model.loss_impl = checkpointing, loss_impl
    if compile_:  # a torch.compile backend name
        for layer in model.model.layers:  # regional compilation: one compile serves every layer
            layer.compile(dynamic=False, backend=compile_)
    opt = build_optimizer(model, TrainConfig(lr=1e-4, max_steps=1))
    bf16 = device.type == "cuda"
    g = torch.Generator().manual_seed(0)
    ids = torch.randint(0, cfg.vocab_size, (batch_size, seq), generator=g)
    if docs:  # documents of 64..1024 tokens ending in token 2
        ids[torch.rand(ids.shape, generator=g) < 1 / 512] = 2
    batch = {"input_ids": ids.to(device), "labels": ids.to(device)}
    batch = with_documents(batch, 2) if docs else batch
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    times = []
    for _ in range(size["warmup"] + size["steps"]):
        sync(device)
        t0 = time.perf_counter()
        with torch.autocast(device.type, dtype=torch.bfloat16) if bf16 else nullcontext():
            loss, _ = causal_lm(model, batch)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        opt.zero_grad(set_to_none=True)
        float(loss.detach())
        times.append(time.perf_counter() - t0)
    timed = times[size["warmup"]:]
    tok_s = batch_size * seq / statistics.median(timed)
    peak = peak_flops(torch.cuda.get_device_name(device)) if device.type == "cuda" else None
    out = {"tokens_per_s": round(tok_s, 1), "batch": f"{batch_size}x{seq}", "loss": round(float(loss), 3),
           "step_s_spread": round((max(timed) - min(timed)) / statistics.median(timed), 3),
           "mfu": round(flops_per_token(cfg, seq) * tok_s / peak, 4) if peak else None}
    out["peak_mem_gb"] = peak_memory_gb(device)
    del opt
    return out


def peak_memory_gb(device: torch.device) -> float:
    """CUDA: peak allocated since the last reset; CPU: the process's peak RSS."""
    if device.type == "cuda":
        return round(torch.cuda.max_memory_allocated(device) / 2**30, 2)
    scale = 1 if platform.system() == "Darwin" else 1024
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * scale / 2**30, 3)


# ---- steps --------------------------------------------------------------------------------------
def step_train(ctx: dict, seq: int, compile_: bool = False, checkpointing: bool = False,
               docs: bool = False) -> dict:
    size, device = ctx["size"], ctx["device"]
    cfg = model_config(size["shape"], seq)
    model = build(cfg, device)
    # Inductor on CUDA; on CPU (--tiny) aot_eager checks the traced graphs without a C++ build.
    backend = ("inductor" if device.type == "cuda" else "aot_eager") if compile_ else None
    try:
        return train_rate(model, cfg, seq, size, device, backend, checkpointing, docs)
    finally:
        del model
        free(device)


def free(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.empty_cache()


def step_worker(ctx: dict, worker: str, torchrun: bool = False) -> dict:
    """Run one measurement in a fresh process (peak memory of its own; torchrun for FSDP2)."""
    args = [__file__, "--worker", worker, "--device", str(ctx["device"])] + (["--tiny"] if ctx["tiny"] else [])
    launcher = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "1"] \
        if torchrun else [sys.executable]
    proc = subprocess.run(launcher + args, capture_output=True, text=True, timeout=ctx["timeout"])
    lines = [x for x in proc.stdout.splitlines() if x.startswith("RESULT ")]
    if proc.returncode or not lines:
        raise RuntimeError(f"worker {worker} exited {proc.returncode}: {proc.stderr[-1500:]}")
    return json.loads(lines[-1][len("RESULT "):])


def worker_memory(ctx: dict, loss_impl: str) -> dict:
    """Training steps of the big-vocabulary model (seq = the longest) with one loss path."""
    size, device = ctx["size"], ctx["device"]
    seq = size["seqs"][-1]
    cfg = model_config(size["shape"], seq, vocab_size=size["big_vocab"])
    base = peak_memory_gb(device)
    small = {**size, "warmup": 1, "steps": 2}
    out = train_rate(build(cfg, device), cfg, seq, small, device, loss_impl=loss_impl)
    if device.type == "cpu":
        out["peak_mem_gb"] = round(out["peak_mem_gb"] - base, 3)  # the step's growth over the model
    return {**out, "loss_impl": loss_impl, "vocab": cfg.vocab_size}


def worker_fsdp(ctx: dict) -> dict:
    """FSDP2 (fully_shard per layer, then the root, as lmforge's trainer does) in one process."""
    import torch.distributed as dist
    from torch.distributed.fsdp import fully_shard

    device = ctx["device"]
    dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
    try:
        if device.type == "cuda":
            torch.cuda.set_device(0)
        seq = ctx["size"]["seqs"][0]
        cfg = model_config(ctx["size"]["shape"], seq)
        model = build(cfg, device)
        for layer in model.model.layers:
            fully_shard(layer)
        fully_shard(model)
        return train_rate(model, cfg, seq, ctx["size"], device)
    finally:
        dist.destroy_process_group()


def step_doc_mask_equal(ctx: dict) -> dict:
    """Packed row of three documents vs each alone, through the mask this device uses."""
    device = ctx["device"]
    cfg = model_config(TINY, 256, vocab_size=512)
    model = build(cfg, device).eval()
    g = torch.Generator().manual_seed(0)
    docs = [torch.cat([torch.randint(3, 512, (n,), generator=g), torch.tensor([2])]) for n in (40, 90, 25)]
    row = torch.cat(docs)[None].to(device)
    batch = with_documents({"input_ids": row, "labels": row}, 2)
    kind = type(document_mask(batch["document_ids"])).__name__
    with torch.no_grad():
        packed = model(row, labels=batch["labels"], document_ids=batch["document_ids"], output="token_logprobs")[0]
        diffs, off = [], 0
        for d in docs:
            alone = model(d[None].to(device), labels=d[None].to(device), output="token_logprobs")[0]
            diffs.append(float((packed[off:off + len(d) - 1] - alone).abs().max()))
            off += len(d)
    return {"max_abs_diff": max(diffs), "mask": kind, "ok_1e-4": max(diffs) < 1e-4}


def step_eval(ctx: dict) -> dict:
    """Multiple-choice questions/s (5-shot, 4 choices) of lmforge's scorer on the ~1B shape."""
    from lmforge.eval.runner import evaluate_mc
    from lmforge.eval.task import MCItem, MCTask
    from lmforge.tokenizer.core import byte_tokenizer

    size, device = ctx["size"], ctx["device"]
    tok = byte_tokenizer()
    cfg = model_config(size["shape"], 4096, vocab_size=tok.vocab_size)
    dtype = torch.bfloat16 if device.type == "cuda" else torch.float32
    model = build(cfg, device, dtype).eval()
    rng = torch.Generator().manual_seed(0)

    def item(i: int, subject: str) -> MCItem:
        a, b = (int(x) for x in torch.randint(10, 999, (2,), generator=rng))
        return MCItem(f"What is {a} + {b}?", [str(a + b + d) for d in (0, 1, -10, 100)], 0, subject)

    subjects = ["math", "more_math"]
    task = MCTask("synthetic", [item(i, subjects[i % 2]) for i in range(size["questions"])],
                  dev={s: [item(i, s) for i in range(5)] for s in subjects})
    evaluate_mc(model, tok, task, shots=5, batch_size=16, limit=2, progress=False)  # warm up
    sync(device)
    t0 = time.perf_counter()
    res = evaluate_mc(model, tok, task, shots=5, batch_size=16, progress=False)
    sync(device)
    seconds = time.perf_counter() - t0
    return {"questions_per_s": round(res["n"] / seconds, 2), "questions": res["n"], "shots": 5}


def step_serve(ctx: dict, streams: int) -> dict:
    """Generated tokens/s of the serving engine (continuous batching) with `streams` requests."""
    from lmforge.model.generate import SamplingParams
    from lmforge.serve.engine import Engine, Request

    size, device = ctx["size"], ctx["device"]
    if "serve_model" not in ctx:
        dtype = torch.bfloat16 if device.type == "cuda" else torch.float32
        ctx["serve_model"] = build(model_config(size["shape"], 4096), device, dtype).eval()
    engine = Engine(ctx["serve_model"], max_batch=streams)
    try:
        run_streams(engine, Request, SamplingParams, 2, 4)  # warm up
        tokens, seconds = run_streams(engine, Request, SamplingParams, streams, size["new_tokens"])
    finally:
        engine.close()
    return {"tokens_per_s": round(tokens / seconds, 1), "streams": streams, "new_tokens": size["new_tokens"]}


def run_streams(engine, Request, SamplingParams, n: int, new_tokens: int) -> tuple[int, float]:
    done = [threading.Event() for _ in range(n)]
    counts = [0] * n
    errors: list[str] = []

    def emit_for(i: int):
        def emit(token, reason):
            if token is not None:
                counts[i] += 1
            if reason is not None:
                if reason.startswith("error"):
                    errors.append(reason)
                done[i].set()
        return emit

    g = torch.Generator().manual_seed(1)
    t0 = time.perf_counter()
    for i in range(n):
        prompt = torch.randint(3, 500, (32,), generator=g).tolist()
        engine.submit(Request(prompt, SamplingParams(max_new_tokens=new_tokens, temperature=0.0), emit_for(i)))
    for e in done:
        e.wait(timeout=600)
    if errors:
        raise RuntimeError(errors[0])
    return sum(counts), time.perf_counter() - t0


def steps(ctx: dict) -> list[tuple[str, object]]:
    s1, s2 = ctx["size"]["seqs"]
    return [
        (f"train seq={s1} eager", lambda: step_train(ctx, s1)),
        (f"train seq={s2} eager", lambda: step_train(ctx, s2)),
        (f"train seq={s1} compile", lambda: step_train(ctx, s1, compile_=True)),
        (f"train seq={s2} compile", lambda: step_train(ctx, s2, compile_=True)),
        (f"train seq={s1} act-ckpt", lambda: step_train(ctx, s1, checkpointing=True)),
        (f"train seq={s2} compile+act-ckpt", lambda: step_train(ctx, s2, compile_=True, checkpointing=True)),
        (f"train seq={s1} fsdp2 x1", lambda: step_worker(ctx, "fsdp", torchrun=True)),
        ("vocab 125,700 chunked loss", lambda: step_worker(ctx, "memory:chunked" if ctx["device"].type == "cpu"
                                                           else "memory:auto")),
        ("vocab 125,700 full logits", lambda: step_worker(ctx, "memory:full")),
        ("doc mask = docs alone", lambda: step_doc_mask_equal(ctx)),
        (f"train seq={s2} doc-mask", lambda: step_train(ctx, s2, docs=True)),
        ("eval mc 5-shot", lambda: step_eval(ctx)),
        ("serve 1 stream", lambda: step_serve(ctx, 1)),
        ("serve 32 streams", lambda: step_serve(ctx, 32)),
    ]


# ---- running ------------------------------------------------------------------------------------
def environment(device: torch.device) -> dict:
    env = {"python": platform.python_version(), "torch": torch.__version__, "cuda": torch.version.cuda,
           "cuda_available": torch.cuda.is_available(), "device": str(device), "cpu_threads": torch.get_num_threads()}
    if device.type == "cuda":
        name = torch.cuda.get_device_name(device)
        env.update(device_name=name, peak_bf16_flops=peak_flops(name),
                   memory_gb=round(torch.cuda.get_device_properties(device).total_memory / 2**30, 1))
    try:
        import liger_kernel  # noqa: F401
        env["liger_kernel"] = True
    except ImportError:
        env["liger_kernel"] = False
    return env


def guarded(name: str, fn, deadline: float) -> dict:
    """Run one step; its error (not the run) fails. Steps that would start past the deadline skip."""
    if time.time() > deadline:
        return {"name": name, "ok": False, "error": "skipped: time budget spent"}
    t0 = time.perf_counter()
    try:
        row = {"name": name, "ok": True, **fn()}
    except Exception as e:  # noqa: BLE001 - a measurement's failure is a result
        row = {"name": name, "ok": False, "error": f"{type(e).__name__}: {e}"[:800],
               "traceback": traceback.format_exc()[-1500:]}
        if torch.cuda.is_available():
            torch.cuda.empty_cache()
    row["seconds"] = round(time.perf_counter() - t0, 1)
    print(f"  {name}: {'ok' if row['ok'] else row['error'][:200]} ({row['seconds']}s)", flush=True)
    return row


def table(rows: list[dict]) -> str:
    head = f"{'step':36s} {'tok/s':>10s} {'MFU':>6s} {'peak GB':>8s} {'other':>22s} {'s':>6s}"
    lines = [head, "-" * len(head)]
    for r in rows:
        if not r["ok"]:
            lines.append(f"{r['name']:36s} FAILED: {r['error'][:90]}")
            continue
        tok = r.get("tokens_per_s")
        other = (f"{r['questions_per_s']} q/s" if "questions_per_s" in r else
                 f"diff {r['max_abs_diff']:.1e} {r['mask']}" if "max_abs_diff" in r else r.get("batch", ""))
        mfu = f"{r['mfu']:.1%}" if r.get("mfu") else "-"
        mem = f"{r['peak_mem_gb']:.2f}" if r.get("peak_mem_gb") is not None else "-"
        lines.append(f"{r['name']:36s} {tok if tok is not None else '-':>10} {mfu:>6s} {mem:>8s} "
                     f"{other:>22s} {r['seconds']:>6}")
    return "\n".join(lines)


def default_out() -> Path:
    return Path(os.environ["OUT"]) / "gpu_check.json" if os.environ.get("OUT") else Path("gpu_check.json")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--tiny", action="store_true", help="tiny shapes (CPU, tests)")
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--out", type=Path, default=None, help="JSON path (default: $OUT/gpu_check.json)")
    ap.add_argument("--only", default="", help="comma-separated substrings of step names to run")
    ap.add_argument("--budget-s", type=float, default=450, help="skip steps that would start later")
    ap.add_argument("--step-timeout-s", type=float, default=240, help="limit of a subprocess step")
    ap.add_argument("--worker", help=argparse.SUPPRESS)
    return ap.parse_args(argv)


def run_worker(ctx: dict, worker: str) -> None:
    kind, _, arg = worker.partition(":")
    result = worker_fsdp(ctx) if kind == "fsdp" else worker_memory(ctx, arg)
    print("RESULT " + json.dumps(result), flush=True)


def main(argv: list[str] | None = None) -> dict | None:
    args = parse_args(argv)
    device = torch.device(args.device)
    ctx = {"size": SIZES["tiny" if args.tiny else "full"], "tiny": args.tiny, "device": device,
           "timeout": args.step_timeout_s}
    if args.worker:
        run_worker(ctx, args.worker)
        return None
    env = environment(device)
    cfg = model_config(ctx["size"]["shape"], ctx["size"]["seqs"][0])
    env["model_parameters"] = param_count(cfg)
    print(json.dumps(env), flush=True)
    deadline = time.time() + args.budget_s
    wanted = [w for w in args.only.split(",") if w]
    out = args.out or default_out()
    result = {"environment": env, "size": "tiny" if args.tiny else "full", "steps": []}
    for name, fn in steps(ctx):
        if not wanted or any(w in name for w in wanted):
            result["steps"].append(guarded(name, fn, deadline))
            atomic_write_json(out, result)  # a run cut short still leaves every finished step
    print(table(result["steps"]))
    print(f"wrote {out}")
    return result


if __name__ == "__main__":
    main()
