"""`lmforge model init|info` and `lmforge generate`."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path


def register(sub: argparse._SubParsersAction) -> None:
    model = sub.add_parser("model", help="create or describe a model")
    verbs = model.add_subparsers(dest="model_command", metavar="VERB", required=True)

    init = verbs.add_parser("init", help="write a freshly initialised model folder")
    init.add_argument("--preset", required=True, help="preset name (lmforge model info --list)")
    init.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                      help="override a config field, e.g. --set num_hidden_layers=6")
    init.add_argument("--tokenizer", help="tokenizer folder to copy in (sets vocab_size)")
    init.add_argument("--seed", type=int, default=0)
    init.add_argument("--out", required=True, help="output model folder")
    init.set_defaults(func=cmd_init)

    info = verbs.add_parser("info", help="parameters and training FLOPs per token")
    info.add_argument("model_dir", nargs="?", help="model folder")
    info.add_argument("--preset", help="describe a preset instead of a folder")
    info.add_argument("--seq-len", type=int, help="sequence length for the attention FLOPs term")
    info.add_argument("--list", action="store_true", help="list the presets")
    info.add_argument("--json", action="store_true", help="print JSON")
    info.set_defaults(func=cmd_info)

    gen = sub.add_parser("generate", help="generate text from a model folder")
    gen.add_argument("model_dir")
    gen.add_argument("--prompt", action="append", required=True, help="repeat for a batch")
    gen.add_argument("--max-new-tokens", type=int, default=64)
    gen.add_argument("--temperature", type=float, default=0.0, help="0 = greedy")
    gen.add_argument("--top-k", type=int, default=0)
    gen.add_argument("--top-p", type=float, default=1.0)
    gen.add_argument("--repetition-penalty", type=float, default=1.0)
    gen.add_argument("--seed", type=int)
    gen.add_argument("--device", default="cpu")
    gen.set_defaults(func=cmd_generate)


def _parse_sets(items: list[str]) -> dict:
    from lmforge.config import parse_override

    out = {}
    for item in items:
        path, value = parse_override(item)
        out[".".join(path)] = value
    return out


def cmd_init(args: argparse.Namespace) -> None:
    from lmforge.model import build_model, preset, save_model
    from lmforge.tokenizer import Tokenizer

    overrides = _parse_sets(args.overrides)
    tok = Tokenizer.from_dir(args.tokenizer) if args.tokenizer else None
    if tok is not None:
        overrides.setdefault("vocab_size", tok.vocab_size)
        overrides.setdefault("bos_token_id", tok.bos_id)
        overrides.setdefault("eos_token_id", tok.eos_id)
        overrides.setdefault("pad_token_id", tok.pad_id)
    cfg = preset(args.preset, **overrides)
    model = build_model(cfg, seed=args.seed)
    save_model(model, args.out, created_by="lmforge model init",
               details={"preset": args.preset, "overrides": overrides, "seed": args.seed},
               copy_from=args.tokenizer)
    print(f"wrote {args.out}: {args.preset} preset, {model.num_parameters():,} parameters")


def cmd_info(args: argparse.Namespace) -> None:
    from lmforge.model import PRESETS, load_config, preset
    from lmforge.model.flops import describe, human

    if args.list:
        for name in PRESETS:
            d = describe(preset(name))
            print(f"{name:14s} {human(d['parameters']):>9s} params")
        return
    if bool(args.preset) == bool(args.model_dir):
        raise ValueError("give a model folder or --preset NAME (not both)")
    cfg = preset(args.preset) if args.preset else load_config(args.model_dir)
    d = describe(cfg, args.seq_len)
    if args.json:
        print(json.dumps({**d, "config": cfg.model_dump()}, indent=2))
        return
    print(f"{args.preset or args.model_dir}")
    for k, v in d.items():
        shown = human(v) if isinstance(v, (int, float)) and k != "seq_len" else v
        print(f"  {k:26s} {shown}")
    for k, v in cfg.model_dump().items():
        print(f"  {k:26s} {v}")


def cmd_generate(args: argparse.Namespace) -> None:
    from lmforge.model import load_model
    from lmforge.model.generate import SamplingParams, generate
    from lmforge.tokenizer import Tokenizer, byte_tokenizer

    model = load_model(args.model_dir, device=args.device)
    has_tok = (Path(args.model_dir) / "tokenizer.json").is_file()
    tok = Tokenizer.from_dir(args.model_dir) if has_tok else byte_tokenizer()
    stops = [t for t in (tok.eos_id, model.config.eos_token_id) if t is not None]
    params = SamplingParams(max_new_tokens=args.max_new_tokens, temperature=args.temperature,
                            top_k=args.top_k, top_p=args.top_p,
                            repetition_penalty=args.repetition_penalty,
                            stop_token_ids=stops, seed=args.seed)
    prompts = [tok.encode(p, add_bos=True) for p in args.prompt]
    if len(prompts) == 1:  # stream a single prompt token by token
        sys.stdout.write(args.prompt[0])
        emitted: list[int] = []
        printed = ""

        def on_token(_row: int, token: int) -> None:
            nonlocal printed
            emitted.append(token)
            text = tok.decode(emitted)
            if not text.endswith("\ufffd"):  # wait for a complete UTF-8 character
                sys.stdout.write(text[len(printed):])
                sys.stdout.flush()
                printed = text

        generate(model, prompts, params, pad_id=tok.pad_id, on_token=on_token)
        print()
        return
    for prompt, out in zip(args.prompt, generate(model, prompts, params, pad_id=tok.pad_id)):
        print(json.dumps({"prompt": prompt, "completion": tok.decode(out)}, ensure_ascii=False))
