"""`lmforge model init|info` and `lmforge generate`, derived from their configs."""

from __future__ import annotations

import argparse
import json
import sys

from lmforge.cli.derive import Verb, add_group, add_verb
from lmforge.model.flops import human
from lmforge.model.info import InfoConfig, model_info
from lmforge.model.init import InitConfig, InitResult, run_init
from lmforge.serve.generate import Completion, GenerateConfig, run_generate


def _show_init(r: InitResult, cfg: InitConfig) -> None:
    what = f"{cfg.preset} preset" if not cfg.path else f"copy of {cfg.path}"
    print(f"wrote {r.folder}: {what}, {r.layers} layers, {r.parameters:,} parameters")


def _lead(cfg: GenerateConfig, prompt: str) -> str:
    """Text mode shows a plain prompt before its continuation; a chat answer stands alone."""
    return "" if cfg.chat else prompt


def _write(text: str) -> None:
    sys.stdout.write(text)
    sys.stdout.flush()


def generate_and_print(cfg: GenerateConfig) -> list[Completion]:
    """Text: each prompt's output, separated by a blank line (the first streamed as it comes);
    --jsonl: one {"prompt", "completion", "tokens"} object per line. The same for any count."""
    if cfg.jsonl:
        done = run_generate(cfg)
        for c in done:
            print(json.dumps({"prompt": c.prompt, "completion": c.completion, "tokens": c.tokens},
                             ensure_ascii=False))
        return done
    _write(_lead(cfg, cfg.prompt[0]))
    done = run_generate(cfg, on_text=lambda row, text: _write(text) if row == 0 else None)
    print()
    for c in done[1:]:
        print(f"\n{_lead(cfg, c.prompt)}{c.completion}")
    return done


INIT = Verb(InitConfig, run_init, show=_show_init,
            help="write a model folder: a fresh preset (field overrides as key=value, e.g. "
                 "num_hidden_layers=6) or a copy of a folder")
GENERATE = Verb(GenerateConfig, generate_and_print, positional=("model",),
                help="complete prompts with a model folder (--chat: as user turns of its chat template)")


def _show_info(info: dict, cfg: InfoConfig) -> None:
    if cfg.json_output:
        print(json.dumps({**info.get("describe", {}), **{k: v for k, v in info.items() if k != "describe"}},
                         indent=2))
        return
    if "presets" in info:
        for name, params in info["presets"].items():
            print(f"{name:14s} {human(params):>9s} params")
        return
    if "train" in info:
        _print_train(info["train"])
    print(info["name"])
    for k, v in info["describe"].items():
        shown = human(v) if isinstance(v, (int, float)) and k != "seq_len" else v
        print(f"  {k:26s} {shown}")
    for k, v in info["config"].items():
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


INFO = Verb(InfoConfig, model_info, positional=("model_dir",), show=_show_info,
            help="parameters and training FLOPs per token (and with --train, memory and speed)")


def register(sub: argparse._SubParsersAction) -> None:
    add_group(sub, "model", 'create or describe a model',
              {"init": INIT, "info": INFO})
    add_verb(sub, "generate", GENERATE)
