"""`lmforge model init|info` and `lmforge generate`; init and generate are derived from their
configs (`model info` is registered from lmforge/model/cli.py)."""

from __future__ import annotations

import argparse
import json
import sys

from lmforge.cli.derive import Verb, add_verb
from lmforge.model.cli import add_info
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


def register(sub: argparse._SubParsersAction) -> None:
    model = sub.add_parser("model", help="create or describe a model")
    verbs = model.add_subparsers(dest="model_command", metavar="VERB", required=True)
    add_verb(verbs, "init", INIT)
    add_info(verbs)
    add_verb(sub, "generate", GENERATE)
