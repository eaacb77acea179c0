"""Multiple-choice questions/s: lmforge's scorer vs lm-evaluation-harness's `hf` backend on the
same model folder and the same local C-Eval-format questions (prints the ratio).

    .venv/bin/python benchmarks/eval_throughput.py [--questions 200] [--shots 2]
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import random
import tempfile
import time
from pathlib import Path

from lmforge.eval.lmeval_compat import ceval_task_yaml
from lmforge.eval.multiple_choice import MCEvalConfig, run_mc_eval
from lmforge.model import build_model, preset, save_model
from lmforge.tokenizer.core import byte_tokenizer


def write_data(root: Path, n: int) -> None:
    rng = random.Random(0)
    for split, count in (("val", n), ("dev", 5)):
        (root / split).mkdir(parents=True)
        with (root / split / f"math_{split}.csv").open("w", newline="", encoding="utf-8") as f:
            w = csv.writer(f)
            w.writerow(["id", "question", "A", "B", "C", "D", "answer", "explanation"])
            for i in range(count):
                a, b = rng.randint(10, 999), rng.randint(10, 999)
                opts = [str(a + b + d) for d in (0, 1, -10, 100)]
                rng.shuffle(opts)
                w.writerow([i, f"计算：{a} 加上 {b} 等于多少？", *opts, "ABCD"[opts.index(str(a + b))], ""])


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--questions", type=int, default=200)
    ap.add_argument("--shots", type=int, default=2)
    ap.add_argument("--batch-size", type=int, default=16)
    ap.add_argument("--repeats", type=int, default=2,
                    help="alternate the two scorers this many times, keep each one's best time "
                         "(the first run pays torch's warm-up; shared CPUs are noisy)")
    args = ap.parse_args()
    os.environ["HF_DATASETS_OFFLINE"] = os.environ["HF_HUB_OFFLINE"] = "1"
    tmp = Path(tempfile.mkdtemp())
    tok = byte_tokenizer()
    # 2,048 positions: a 5-shot prompt of byte tokens (~600) fits whole, as in any real model's
    # context; at the tiny preset's 512 both harnesses would cut each prompt's start differently
    model = build_model(preset("tiny", vocab_size=tok.vocab_size, max_position_embeddings=2048), seed=0)
    model_dir = save_model(model, tmp / "model", created_by="benchmark", extra_files=tok.files())
    write_data(tmp / "data", args.questions)

    from lm_eval import simple_evaluate
    from lm_eval.tasks import TaskManager
    ceval_task_yaml(tmp / "data", "math", tmp / "tasks")
    manager = TaskManager(include_path=str(tmp / "tasks"))
    ours_s = ref_s = float("inf")
    for _ in range(args.repeats):
        t = time.perf_counter()
        cfg = MCEvalConfig(model=str(model_dir), tasks={"ceval": str(tmp / "data")}, shots=args.shots,
                           batch_size=args.batch_size)
        ours = run_mc_eval(cfg).results["ceval"]
        ours_s = min(ours_s, time.perf_counter() - t)
        t = time.perf_counter()
        ref = simple_evaluate(model="hf", model_args=f"pretrained={model_dir},dtype=float32",
                              tasks=["ceval_local"], num_fewshot=args.shots, device="cpu",
                              batch_size=args.batch_size, task_manager=manager, log_samples=True)
        ref_s = min(ref_s, time.perf_counter() - t)  # includes lm-eval's model load + task build
    n = ours["n"]
    samples = sorted(ref["samples"]["ceval_local"], key=lambda s: s["doc_id"])
    delta = max(abs(a - float(r[0][0] if isinstance(r[0], (list, tuple)) else r[0]))
                for s, mine in zip(samples, ours["items"]) for a, r in zip(mine["loglikelihoods"], s["resps"]))
    print(json.dumps({"questions": n, "shots": args.shots,
                      "lmforge_q_per_s": round(n / ours_s, 2), "lm_eval_q_per_s": round(n / ref_s, 2),
                      "ratio": round(ref_s / ours_s, 2), "max_abs_delta_loglik": delta, "lmforge_acc": ours["acc"],
                      "lm_eval_acc": ref["results"]["ceval_local"]["acc,none"]}))


if __name__ == "__main__":
    main()
