"""`lmforge sft-data filter-lang|filter-length|mix|exam|self-cognition|self-instruct`, derived
from the instruction-data operations' configs (lmforge/sft/prepare.py)."""

from __future__ import annotations

import argparse
import json

from lmforge.cli.derive import Verb, add_group
from lmforge.sft import prepare as P


def _done(w: P.Written, cfg: object = None) -> None:
    print(f"wrote {w.records}{'' if w.of is None else f' of {w.of}'} records to {w.path}")


def _done_all(written: list[P.Written], cfg: object) -> None:
    for w in written:
        _done(w)


def _show_self_instruct(counts: dict[str, int], cfg: P.SelfInstructConfig) -> None:
    print(json.dumps(counts))
    _done(P.Written(cfg.out, counts["kept"], cfg.n))


FILE = {"out": "file"}
VERBS = {
    "filter-lang": Verb(P.FilterLangConfig, P.run_filter_lang, show=_done, positional=("input", "out"),
                        outputs=FILE, help="keep records of one language (`lang` field or script)"),
    "filter-length": Verb(P.FilterLengthConfig, P.run_filter_length, show=_done, positional=("input", "out"),
                          aliases={"--min": "min_tokens", "--max": "max_tokens"}, outputs=FILE,
                          help="keep records whose rendered token length is in a band"),
    "mix": Verb(P.MixConfig, P.run_mix, show=_done, positional=("inputs",), outputs=FILE,
                help="weighted mix: FILE:WEIGHT ... (weight = share of --total)"),
    "exam": Verb(P.ExamConfig, P.run_exam, show=_done_all, positional=("input", "out"),
                 help="WanJuan exam jsonl -> CoT and non-CoT prompt/response jsonl"),
    "self-cognition": Verb(P.SelfCognitionConfig, P.run_self_cognition, show=_done, positional=("out",), outputs=FILE,
                           help="who-are-you set from a name and an author (zh+en)"),
    "self-instruct": Verb(P.SelfInstructConfig, P.run_self_instruct, show=_show_self_instruct, outputs=FILE,
                          help="Alpaca self-instruct: new tasks from seed tasks via an OpenAI-compatible "
                               "teacher (resumable)"),
}


def register(sub: argparse._SubParsersAction) -> None:
    add_group(sub, "sft-data", "prepare instruction data (filters, mixing, exam, self-cognition)", VERBS)
