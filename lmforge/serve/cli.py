"""`lmforge chat` and `lmforge serve`."""

from __future__ import annotations

import argparse
from pathlib import Path


def _model_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("model_dir", help="model folder (with tokenizer and chat_template)")
    p.add_argument("--device", default="cpu", help="cpu, cuda, cuda:1 ...")
    p.add_argument("--dtype", default="auto", help="auto (bf16 on CUDA, fp32 on CPU), float32, bfloat16, float16")


def register(sub: argparse._SubParsersAction) -> None:
    chat = sub.add_parser("chat", help="chat with a model in the terminal (/reset, /system TEXT, /quit)")
    _model_args(chat)
    chat.add_argument("--system", help="system prompt")
    chat.add_argument("--max-tokens", type=int, default=256)
    chat.add_argument("--temperature", type=float, default=0.7, help="0 = greedy")
    chat.add_argument("--top-p", type=float, default=0.9)
    chat.add_argument("--top-k", type=int, default=0)
    chat.add_argument("--repetition-penalty", type=float, default=1.1)
    chat.add_argument("--seed", type=int)
    chat.set_defaults(func=cmd_chat)

    serve = sub.add_parser("serve", help="OpenAI-compatible HTTP server with a chat page at /")
    _model_args(serve)
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8000)
    serve.add_argument("--model-name", help="the model id clients send (default: the folder name)")
    serve.add_argument("--api-key", help="require 'Authorization: Bearer KEY' on /v1/*")
    serve.add_argument("--max-tokens-cap", type=int, default=512, help="most tokens one request may ask for")
    serve.add_argument("--max-prompt-tokens", type=int, default=2048)
    serve.add_argument("--max-batch", type=int, default=32, help="requests decoded together")
    serve.set_defaults(func=cmd_serve)


def cmd_chat(args: argparse.Namespace) -> None:
    from lmforge.model.generate import SamplingParams
    from lmforge.serve.chat import chat_loop
    from lmforge.serve.text import load_for_inference

    model, tok = load_for_inference(args.model_dir, args.device, args.dtype)
    params = SamplingParams(max_new_tokens=args.max_tokens, temperature=args.temperature, top_p=args.top_p,
                            top_k=args.top_k, repetition_penalty=args.repetition_penalty, seed=args.seed)
    chat_loop(model, tok, params, system=args.system)


def cmd_serve(args: argparse.Namespace) -> None:
    import uvicorn

    from lmforge.serve.engine import Engine
    from lmforge.serve.server import ServeConfig, create_app
    from lmforge.serve.text import load_for_inference

    for name in ("max_tokens_cap", "max_prompt_tokens", "max_batch"):
        if getattr(args, name) <= 0:
            raise ValueError(f"--{name.replace('_', '-')} must be positive")
    model, tok = load_for_inference(args.model_dir, args.device, args.dtype)
    engine = Engine(model, max_batch=args.max_batch)
    cfg = ServeConfig(model_name=args.model_name or Path(args.model_dir).resolve().name,
                      api_key=args.api_key, max_tokens_cap=args.max_tokens_cap,
                      max_prompt_tokens=args.max_prompt_tokens)
    print(f"serving {cfg.model_name!r} on http://{args.host}:{args.port}  (chat page at /, API at /v1)")
    uvicorn.run(create_app(engine, tok, cfg), host=args.host, port=args.port, log_level="warning")
    engine.close()
