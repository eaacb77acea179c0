"""`lmforge eval --model DIR --tasks ceval,mmlu --data-dir DIR`."""

from __future__ import annotations

import argparse
from pathlib import Path


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("eval", help="evaluate a model folder on benchmarks (lm-eval compatible)")
    p.add_argument("--model", required=True, help="model folder")
    p.add_argument("--tasks", default="",
                   help="comma list of TASK or TASK=DIR (ceval, cmmlu, mmlu, agieval, jsonl)")
    p.add_argument("--data-dir", help="folder holding one sub-folder per task name")
    p.add_argument("--shots", type=int, default=0, help="few-shot examples from the dev split")
    p.add_argument("--batch-size", type=int, default=16)
    p.add_argument("--limit", type=int, help="first N questions per task")
    p.add_argument("--out", help="results folder (results.json + results.md)")
    p.add_argument("--contamination", nargs="+", metavar="CORPUS",
                   help="instead of scoring: n-gram overlap of the tasks' items with these text "
                        "files/folders or packed folders (those need --tokenizer)")
    p.add_argument("--tokenizer", help="tokenizer folder for decoding packed shards")
    p.add_argument("--ngram", type=int, default=13)
    p.add_argument("--perplexity", nargs="+", metavar="TEXT",
                   help="instead of scoring: perplexity and bits-per-byte on these text files")
    p.add_argument("--chat", action="store_true",
                   help="MC answered in free text by a chat model (chat template, greedy reply, the "
                        "choice read by regex: 答案是X / X选项正确 / The answer is X / the option's text)")
    p.add_argument("--gsm8k", metavar="JSONL",
                   help="instead of MC: GSM8K-style generation on this jsonl (question, answer '#### N'); "
                        "--shots examples come from --gsm8k-train")
    p.add_argument("--gsm8k-train", metavar="JSONL", help="few-shot examples for --gsm8k")
    p.add_argument("--translation", metavar="JSONL",
                   help="instead of MC: translation of jsonl records {zh, en}, BLEU and chrF (sacrebleu)")
    p.add_argument("--direction", default="zh-en", choices=["zh-en", "en-zh"])
    p.add_argument("--max-new-tokens", type=int, default=256, help="generation tasks: tokens per answer")
    p.set_defaults(func=cmd_eval)


def parse_tasks(spec: str, data_dir: str | None) -> dict[str, Path]:
    tasks = {}
    for part in filter(None, (s.strip() for s in spec.split(","))):
        name, _, path = part.partition("=")
        if not path and data_dir is None:
            raise ValueError(f"task {name!r}: give --data-dir or {name}=DIR")
        tasks[name] = Path(path) if path else Path(data_dir) / name
    return tasks


def cmd_eval(args: argparse.Namespace) -> int:
    if args.contamination:
        return cmd_contamination(args)
    if args.perplexity:
        import json

        from lmforge.data.read import read_documents
        from lmforge.eval.perplexity import perplexity
        from lmforge.model.io import load_model
        from lmforge.tokenizer.core import Tokenizer
        r = perplexity(load_model(args.model).eval(), Tokenizer.from_dir(args.model),
                       read_documents(args.perplexity))
        print(json.dumps(r, indent=2))
        return 0
    if args.gsm8k or args.translation:
        return cmd_generation(args)
    if not args.tasks:
        raise ValueError("give --tasks (or --perplexity / --contamination / --gsm8k / --translation)")
    if args.chat:
        return cmd_chat_mc(args)
    from lmforge.eval.runner import evaluate, markdown_table
    results = evaluate(args.model, parse_tasks(args.tasks, args.data_dir), args.shots,
                       args.batch_size, args.limit, args.out)
    print(markdown_table(results), end="")
    return 0


def cmd_chat_mc(args: argparse.Namespace) -> int:
    from lmforge.eval.generation import evaluate_mc_chat
    from lmforge.eval.task import load_task
    from lmforge.serve.text import load_for_inference

    model, tok = load_for_inference(args.model)
    if not tok.chat_template:
        raise ValueError(f"--chat: {args.model} has no chat_template in tokenizer_config.json")
    results = {name: evaluate_mc_chat(model, tok, load_task(name, path), args.shots, args.limit)
               for name, path in parse_tasks(args.tasks, args.data_dir).items()}
    for name, r in results.items():
        print(f"{name}: acc {r['acc']:.4f} (n {r['n']}, unparsed {r['unparsed']:.2%})")
    _write_results(args, results)
    return 0


def _write_results(args: argparse.Namespace, results: dict) -> None:
    """<--out>/results.json, written atomically (no file when --out is not given)."""
    import json

    from lmforge.model.io import atomic_dir

    if args.out:
        with atomic_dir(args.out) as tmp:
            (tmp / "results.json").write_text(json.dumps({"model": args.model, "results": results},
                                                         indent=2, ensure_ascii=False))


def cmd_generation(args: argparse.Namespace) -> int:
    """GSM8K or translation by greedy generation; prints (and with --out writes) the scores."""
    import json

    from lmforge.eval.tasks.gsm8k import evaluate_gsm8k, read_gsm8k
    from lmforge.eval.tasks.mc import read_jsonl
    from lmforge.eval.tasks.translation import evaluate_translation
    from lmforge.serve.text import load_for_inference

    model, tok = load_for_inference(args.model)
    results = {}
    if args.gsm8k:
        items = read_gsm8k(args.gsm8k)[:args.limit]
        shots = read_gsm8k(args.gsm8k_train) if args.gsm8k_train else []
        if args.shots and not shots:
            raise ValueError("--shots > 0 needs --gsm8k-train (the few-shot examples)")
        results["gsm8k"] = evaluate_gsm8k(model, tok, items, shots, args.shots, args.max_new_tokens,
                                          args.batch_size)
    if args.translation:
        src, tgt = args.direction.split("-")
        rows = read_jsonl(Path(args.translation))[:args.limit]
        for r in rows:
            if src not in r or tgt not in r:
                raise ValueError(f"{r['_where']}: needs keys {src!r} and {tgt!r}")
        results[f"translation {args.direction}"] = evaluate_translation(
            model, tok, [(r[src], r[tgt]) for r in rows], args.direction, args.max_new_tokens)
    print(json.dumps(results, indent=2, ensure_ascii=False))
    _write_results(args, results)
    return 0


def cmd_contamination(args: argparse.Namespace) -> int:
    import itertools
    import json

    from lmforge.data.read import read_documents
    from lmforge.eval.contamination import contamination, packed_documents
    from lmforge.eval.task import load_task
    from lmforge.model.io import atomic_dir
    docs = []
    for c in args.contamination:
        if (Path(c) / "manifest.json").is_file():
            docs.append(packed_documents(c, args.tokenizer or args.model))
        else:
            docs.append(read_documents([c]))
    corpus = list(itertools.chain(*docs))
    tasks = parse_tasks(args.tasks, args.data_dir)
    items = {name: load_task(name, d).items for name, d in tasks.items()}
    report = {name: contamination(xs, corpus, args.ngram) for name, xs in items.items()}
    print("| task | n | contaminated | rate |\n|---|---:|---:|---:|")
    for name, r in report.items():
        print(f"| {name} | {r['n']} | {r['contaminated']} | {r['rate']:.4f} |")
    if args.out:
        with atomic_dir(args.out) as tmp:
            (tmp / "contamination.json").write_text(json.dumps(report, indent=2, ensure_ascii=False))
    return 0
