"""Real CPU scaling sweep on the built-in demo corpus, then a held-out-size prediction check.

Trains depths x token budgets with the ordinary trainer, fits the Chinchilla law on every size
but the largest, and reports how well it predicts the largest size's validation losses.
Run: .venv/bin/python benchmarks/scaling_sweep.py [--out runs/scaling-bench]  (minutes on 2 cores;
rerunning resumes the sweep).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np


def prepare_data(out: Path, max_chars: int, vocab: int) -> Path:
    """Demo corpus -> byte-level BPE tokenizer -> packed folder (reused when present)."""
    from lmforge.data.corpus import demo_corpus
    from lmforge.tokens.pack import pack_texts
    from lmforge.tokenizer import Tokenizer
    from lmforge.tokenizer.train import train_tokenizer

    data, tok_dir = out / "data", out / "tokenizer"
    if (data / "manifest.json").is_file():
        return data
    texts = demo_corpus(max_chars)
    tok = (Tokenizer.from_dir(tok_dir) if (tok_dir / "tokenizer.json").is_file() else
           train_tokenizer([t for docs in texts.values() for t in docs], vocab, tok_dir))
    pack_texts(texts, tok, data, val_fraction=0.03)
    return data


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default="runs/scaling-bench")
    ap.add_argument("--depths", default="1,2,3,4")
    ap.add_argument("--tokens", default="30000,60000,120000")
    ap.add_argument("--aspect", type=int, default=32)
    ap.add_argument("--max-chars", type=int, default=1_500_000)
    ap.add_argument("--batch-size", type=int, default=8)
    ap.add_argument("--seq-len", type=int, default=128)
    ap.add_argument("--warmup", type=int, default=10)
    args = ap.parse_args()

    from lmforge.scaling.fit import fit_chinchilla, read_points
    from lmforge.scaling.plots import plot_fit
    from lmforge.scaling.sweep import run_sweep

    out = Path(args.out)
    data = prepare_data(out, args.max_chars, vocab=1024)
    base = {"model": {"preset": "tiny", "max_position_embeddings": 256},
            "data": {"path": str(data)}, "tokenizer": str(out / "tokenizer"),
            "train": {"batch_size": args.batch_size, "seq_len": args.seq_len, "lr": 3e-3,
                      "warmup_steps": args.warmup,
                      "schedule": "cosine", "eval_batches": 32, "log_every": 25, "device": "cpu",
                      "save_every": 0, "keep_last": 1}}
    depths = [int(d) for d in args.depths.split(",")]
    csv_path = run_sweep(base, depths, [int(t) for t in args.tokens.split(",")], out / "sweep",
                         aspect=args.aspect, head_dim=32)
    pts = read_points(csv_path)
    largest = pts["N"] == pts["N"].max()
    law = fit_chinchilla(pts["N"][~largest], pts["D"][~largest], pts["loss"][~largest], bootstrap=50)
    law.save(out / "fit_heldout.json")
    pred = law.predict(pts["N"][largest], pts["D"][largest])
    rel = np.abs(pred - pts["loss"][largest]) / pts["loss"][largest]
    png = plot_fit(pts, law, out / "scaling.png", held_out=largest)
    report = {"fit_on": int((~largest).sum()), "params": law.params, "ci90": law.ci,
              "largest_N": float(pts["N"].max()), "observed": pts["loss"][largest].tolist(),
              "predicted": pred.tolist(), "max_rel_error": float(rel.max()),
              "mean_rel_error": float(rel.mean()),
              "params_at_bounds": law.at_bounds(), "plot": str(png), "csv": str(csv_path)}
    (out / "report.json").write_text(json.dumps(report, indent=2))
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
