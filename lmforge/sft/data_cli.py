"""`lmforge sft-data filter-lang|filter-length|mix|exam|self-cognition`."""

from __future__ import annotations

import argparse
import json
import random
from pathlib import Path


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("sft-data", help="prepare instruction data (filters, mixing, exam, self-cognition)")
    verbs = p.add_subparsers(dest="sft_data_cmd", required=True)
    a = verbs.add_parser("filter-lang", help="keep records of one language (`lang` field or script)")
    a.add_argument("input"); a.add_argument("out"); a.add_argument("--lang", default="zh")  # noqa: E702
    a.set_defaults(func=cmd_filter_lang)
    a = verbs.add_parser("filter-length", help="keep records whose rendered token length is in a band")
    a.add_argument("input"); a.add_argument("out"); a.add_argument("--tokenizer", required=True)  # noqa: E702
    a.add_argument("--min", type=int, default=0); a.add_argument("--max", type=int, default=10**9)  # noqa: E702
    a.set_defaults(func=cmd_filter_length)
    a = verbs.add_parser("mix", help="weighted mix: FILE:WEIGHT ... (weight = share of --total)")
    a.add_argument("inputs", nargs="+"); a.add_argument("--out", required=True)  # noqa: E702
    a.add_argument("--total", type=int, required=True); a.add_argument("--seed", type=int, default=0)  # noqa: E702
    a.set_defaults(func=cmd_mix)
    a = verbs.add_parser("exam", help="WanJuan exam jsonl -> CoT and non-CoT prompt/response jsonl")
    a.add_argument("input"); a.add_argument("out_dir")  # noqa: E702
    a.set_defaults(func=cmd_exam)
    a = verbs.add_parser("self-cognition", help="who-are-you set from a name and an author (zh+en)")
    a.add_argument("out"); a.add_argument("--name", required=True); a.add_argument("--author", required=True)  # noqa: E702
    a.add_argument("--count", type=int, default=200); a.add_argument("--seed", type=int, default=0)  # noqa: E702
    a.set_defaults(func=cmd_self_cognition)
    a = verbs.add_parser("self-instruct", help="Alpaca self-instruct: new tasks from seed tasks via "
                         "an OpenAI-compatible teacher (resumable)")
    a.add_argument("--teacher", required=True, help="endpoint URL, e.g. http://127.0.0.1:8000/v1")
    a.add_argument("--seed-tasks", required=True, help="jsonl of instruction/input/output seed tasks")
    a.add_argument("--n", type=int, required=True, help="tasks wanted in --out (existing ones count)")
    a.add_argument("--out", required=True, help="alpaca jsonl, appended as tasks pass the filters")
    a.add_argument("--lang", choices=["en", "zh"], default="en")
    a.add_argument("--model", help="teacher model name (default: the endpoint's first)")
    a.add_argument("--api-key", help="bearer token for the endpoint")
    a.add_argument("--rps", type=float, default=2.0, help="at most this many requests per second")
    a.add_argument("--max-rouge", type=float, default=0.7, help="reject if ROUGE-L to a kept task is above")
    a.add_argument("--max-requests", type=int, help="stop after this many requests (default 20 x n)")
    a.add_argument("--max-tokens", type=int, default=512, help="teacher tokens per request")
    a.add_argument("--temperature", type=float, default=1.0)
    a.add_argument("--seed", type=int, default=0)
    a.set_defaults(func=cmd_self_instruct)


def _done(path: str, n: int, of: int | None = None) -> None:
    print(f"wrote {n}{'' if of is None else f' of {of}'} records to {path}")


def cmd_filter_lang(args: argparse.Namespace) -> None:
    from lmforge.data.pipeline import write_jsonl_atomic
    from lmforge.sft.data import read_jsonl
    from lmforge.sft.tools import record_lang

    recs = list(read_jsonl(args.input))
    _done(args.out, write_jsonl_atomic(Path(args.out), (r for r in recs if record_lang(r) == args.lang)), len(recs))


def cmd_filter_length(args: argparse.Namespace) -> None:
    from lmforge.data.pipeline import write_jsonl_atomic
    from lmforge.sft.data import encode, read_jsonl, to_messages
    from lmforge.tokenizer import Tokenizer

    tok = Tokenizer.from_dir(args.tokenizer)
    recs = list(read_jsonl(args.input))
    keep = (r for r in recs if args.min <= len(encode(tok, to_messages(r))[0]) <= args.max)
    _done(args.out, write_jsonl_atomic(Path(args.out), keep), len(recs))


def cmd_mix(args: argparse.Namespace) -> None:
    from lmforge.data.pipeline import write_jsonl_atomic
    from lmforge.sft.data import read_jsonl

    rng = random.Random(args.seed)
    specs = [s.rsplit(":", 1) if ":" in s else (s, "1") for s in args.inputs]
    total_w = sum(float(w) for _, w in specs)
    out = []
    for f, w in specs:
        recs = list(read_jsonl(f))
        n = round(args.total * float(w) / total_w)
        out += rng.sample(recs, n) if n <= len(recs) else [rng.choice(recs) for _ in range(n)]
    rng.shuffle(out)
    _done(args.out, write_jsonl_atomic(Path(args.out), out))


def cmd_exam(args: argparse.Namespace) -> None:
    from lmforge.data.pipeline import write_jsonl_atomic
    from lmforge.sft.data import read_jsonl
    from lmforge.sft.tools import exam_to_samples

    converted = [exam_to_samples(r) for r in read_jsonl(args.input)]
    Path(args.out_dir).mkdir(parents=True, exist_ok=True)
    for kind in ("cot", "non_cot"):
        path = Path(args.out_dir) / f"{kind}.jsonl"
        _done(str(path), write_jsonl_atomic(path, (c[kind] for c in converted)))


def cmd_self_cognition(args: argparse.Namespace) -> None:
    from lmforge.data.pipeline import write_jsonl_atomic
    from lmforge.sft.tools import self_cognition

    _done(args.out, write_jsonl_atomic(Path(args.out), self_cognition(args.name, args.author, args.count, args.seed)))


def cmd_self_instruct(args: argparse.Namespace) -> None:
    from lmforge.client import ChatClient
    from lmforge.synth.self_instruct import Filters, read_seed_tasks, self_instruct

    client = ChatClient(args.teacher, model=args.model, api_key=args.api_key, rps=args.rps)
    counts = self_instruct(client, read_seed_tasks(args.seed_tasks), args.n, args.out, args.lang,
                           Filters(max_rouge=args.max_rouge, lang=args.lang), seed=args.seed,
                           max_requests=args.max_requests, temperature=args.temperature,
                           max_tokens=args.max_tokens)
    print(json.dumps(counts))
    _done(args.out, counts["kept"], args.n)
