"""`lmforge chat` and `lmforge serve`, derived from ChatConfig and LaunchConfig."""

from __future__ import annotations

import argparse

from lmforge.cli.derive import Verb, add_verb
from lmforge.serve.chat import ChatConfig, run_chat
from lmforge.serve.launch import LaunchConfig, run_serve


def _announce(cfg: LaunchConfig, args: argparse.Namespace) -> None:
    print(f"serving {cfg.app_config().model_name!r} on http://{cfg.host}:{cfg.port}  "
          "(chat page at /, API at /v1)")


CHAT = Verb(ChatConfig, run_chat, positional=("model",), aliases={"--max-tokens": "max_new_tokens"},
            help="chat with a model in the terminal (/reset, /system TEXT, /quit or exit)")
SERVE = Verb(LaunchConfig, run_serve, positional=("model",), before=_announce,
             help="OpenAI-compatible HTTP server with a chat page at /")


def register(sub: argparse._SubParsersAction) -> None:
    add_verb(sub, "chat", CHAT)
    add_verb(sub, "serve", SERVE)
