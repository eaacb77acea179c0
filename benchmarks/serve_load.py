"""Load on `lmforge serve` through the official openai client: N concurrent streaming chat
clients (batched by the engine) vs the same N requests one after another. Prints total
completion tokens/s of each and their ratio; every request must finish without error.

    python benchmarks/serve_load.py [--model DIR] [--clients 32] [--max-tokens 64]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import openai


def make_model(out: Path) -> Path:
    """A `demo`-preset model (random weights) with a bilingual byte-level BPE tokenizer."""
    from lmforge.data.corpus import demo_corpus
    from lmforge.model import build_model, preset, save_model
    from lmforge.tokenizer.train import train_tokenizer

    corpus = demo_corpus(200_000)
    tok = train_tokenizer(corpus["en"] + corpus["zh"], vocab_size=4096, out_dir=out / "tok")
    # random weights rarely pick EOS; the token counts come from each stream's usage anyway
    cfg = preset("demo", vocab_size=tok.vocab_size, bos_token_id=tok.bos_id, eos_token_id=tok.eos_id)
    return save_model(build_model(cfg, seed=0), out / "model", created_by="benchmarks/serve_load.py",
                      copy_from=out / "tok")


async def one(c: openai.AsyncOpenAI, i: int, max_tokens: int) -> tuple[int, float, float]:
    """(completion tokens, seconds to first token, seconds in all)."""
    t0 = time.perf_counter()
    first = None
    stream = await c.chat.completions.create(
        model="bench", messages=[{"role": "user", "content": f"Tell me story number {i}. 讲个故事。"}],
        max_tokens=max_tokens, temperature=0.8, seed=i, stream=True, stream_options={"include_usage": True})
    tokens = 0
    async for ch in stream:
        if first is None and ch.choices and ch.choices[0].delta.content:
            first = time.perf_counter() - t0
        if ch.usage is not None:
            tokens = ch.usage.completion_tokens
    return tokens, first or 0.0, time.perf_counter() - t0


async def run(url: str, n: int, max_tokens: int, concurrent: bool) -> dict:
    async with openai.AsyncOpenAI(base_url=url + "/v1", api_key="bench", max_retries=0, timeout=600,
                                  http_client=openai.DefaultAsyncHttpxClient(
                                      limits=httpx.Limits(max_connections=n + 8))) as c:
        t0 = time.perf_counter()
        if concurrent:
            res = await asyncio.gather(*(one(c, i, max_tokens) for i in range(n)))
        else:
            res = [await one(c, i, max_tokens) for i in range(n)]
        wall = time.perf_counter() - t0
    tokens = sum(r[0] for r in res)
    ttft = sorted(r[1] for r in res)
    return {"requests": n, "tokens": tokens, "wall_s": round(wall, 2), "tokens_per_s": round(tokens / wall, 1),
            "ttft_p50_s": round(ttft[n // 2], 3), "ttft_max_s": round(ttft[-1], 3)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", help="model folder (default: a random-weight demo model)")
    ap.add_argument("--clients", type=int, default=32)
    ap.add_argument("--max-tokens", type=int, default=64)
    ap.add_argument("--device", default="cpu")
    args = ap.parse_args()
    model_dir = Path(args.model) if args.model else make_model(Path(tempfile.mkdtemp(prefix="lmforge-load-")))
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    url = f"http://127.0.0.1:{port}"
    server = subprocess.Popen([sys.executable, "-m", "lmforge", "serve", str(model_dir), "--port", str(port),
                               "--model-name", "bench", "--api-key", "bench", "--device", args.device,
                               "--max-batch", str(args.clients)])
    try:
        for _ in range(600):
            try:
                if httpx.get(url + "/health", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.2)
        asyncio.run(run(url, 2, 4, concurrent=True))  # warm up
        batched = asyncio.run(run(url, args.clients, args.max_tokens, concurrent=True))
        serial = asyncio.run(run(url, args.clients, args.max_tokens, concurrent=False))
    finally:
        server.terminate()
        server.wait(timeout=30)
    print(json.dumps({"batched": batched, "one_after_another": serial,
                      "throughput_ratio": round(batched["tokens_per_s"] / serial["tokens_per_s"], 2)}, indent=2))


if __name__ == "__main__":
    main()
