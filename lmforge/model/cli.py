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
    info.add_argument("--train", metavar="K=V,..", help="training memory per device and expected tokens/s "
                      "for seq_len,batch_size,precision(fp32|bf16),distributed(none|ddp|fsdp),gpus,"
                      "activation_checkpointing,loss_impl(chunked|full),mfu(0.4),device(H100)")
    info.add_argument("--list", action="store_true", help="list the presets")
    info.add_argument("--json", action="store_true", help="print JSON")
    info.set_defaults(func=cmd_info)


def cmd_info(args: argparse.Namespace) -> None:
    from lmforge.model import PRESETS, load_config, preset
    from lmforge.model.flops import describe, human
    from lmforge.model.memory import train_report

    if args.list:
        for name in PRESETS:
            d = describe(preset(name))
            print(f"{name:14s} {human(d['parameters']):>9s} params")
        return
    if bool(args.preset) == bool(args.model_dir):
        raise ValueError("give a model folder or --preset NAME (not both)")
    cfg = preset(args.preset) if args.preset else load_config(args.model_dir)
    d = describe(cfg, args.seq_len)
    train = train_report(cfg, args.train) if args.train else None
    if args.json:
        print(json.dumps({**d, "config": cfg.model_dump(), **({"train": train} if train else {})}, indent=2))
        return
    if train:
        _print_train(train)
    print(f"{args.preset or args.model_dir}")
    for k, v in d.items():
        shown = human(v) if isinstance(v, (int, float)) and k != "seq_len" else v
        print(f"  {k:26s} {shown}")
    for k, v in cfg.model_dump().items():
        print(f"  {k:26s} {v}")


def _print_train(t: dict) -> None:
    s, m = t["shape"], t["memory_gib_per_device"]
    print(f"training {s['batch_size']}x{s['seq_len']} per device, {s['precision']}, "
          f"{s['distributed']} x{s['gpus']}, loss {s['loss_impl']}"
          f"{', activation checkpointing' if s['activation_checkpointing'] else ''} (GiB per device)")
    for key in ("parameters", "gradients", "optimizer", "activations_no_checkpointing",
                "activations_checkpointing", "logits_full", "logits_chunked", "peak"):
        print(f"  {key:30s} {m[key]:10.2f}")
    if t["tokens_per_s"]:
        print(f"  tokens/s at {t['mfu']:.0%} MFU on {s['gpus']} x "
              f"{t['device']}: {t['tokens_per_s']:,} ({t['tokens_per_s_per_device']:,} per device)")
