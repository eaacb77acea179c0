"""`lmforge model info` (registered by lmforge/cli/model.py, which also holds `model init` and
`generate`)."""

from __future__ import annotations

import argparse
import json


def add_info(verbs: argparse._SubParsersAction) -> None:
    """`lmforge model info` on the `model` group's sub-parsers."""
    info = verbs.add_parser("info", help="parameters and training FLOPs per token")
    info.add_argument("model_dir", nargs="?", help="model folder")
    info.add_argument("--preset", help="describe a preset instead of a folder")
    info.add_argument("--seq-len", type=int, help="sequence length for the attention FLOPs term")
    info.add_argument("--list", action="store_true", help="list the presets")
    info.add_argument("--json", action="store_true", help="print JSON")
    info.set_defaults(func=cmd_info)


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
