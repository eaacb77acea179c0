"""Clean + near-dedup + write throughput (MB/s of UTF-8 input), peak memory, and recall/precision
on planted near-duplicates; the same input through datatrove's MinHash (char 5-grams, the same
LSH bands) as a speed ratio and recall/precision, in one run.

The input is built from the real text of the demo corpus by sampling passages and perturbing
them (so documents are distinct), with `--dup-share` of them near copies (2-4% of characters
changed) of an earlier document, written as `--shards` jsonl files.

    python benchmarks/data_clean_dedup.py --mb 200 --workers 2     # the issue's Show run
    python benchmarks/data_clean_dedup.py --mb 15                  # a quick check
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import random
import resource
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

from lmforge.data.corpus import demo_corpus
from lmforge.data.dedup import DEFAULT_THRESHOLD, DedupSettings
from lmforge.data.pipeline import RunOptions, process_sources
from lmforge.data.read import read_documents

FILLER = "的一是了我不人在他有这个上们来到时大地为子中你说生国年着就那和要她出也得里后自以会abcdefghijklmnopqrstuvwxyz"


def _perturb(text: str, share: float, rng: random.Random) -> str:
    chars = list(text)
    for i in rng.sample(range(len(chars)), max(1, int(len(chars) * share))):
        chars[i] = rng.choice(FILLER)
    return "".join(chars)


def build_input(folder: Path, mb: float, shards: int, dup_share: float, seed: int = 0) -> set[int]:
    """Write shard-XXX.jsonl (~`mb` MB); the ids (line order over shards) of planted copies."""
    rng = random.Random(seed)
    pool = [d for ds in demo_corpus(3_000_000, 0.5).values() for d in ds if len(d) > 200]
    files = [open(folder / f"shard-{i:03d}.jsonl", "w", encoding="utf-8") for i in range(shards)]
    docs: list[str] = []
    planted, size = set(), 0
    while size < mb * 1e6:
        if docs and rng.random() < dup_share:
            text = _perturb(rng.choice(docs[-5000:]), rng.uniform(0.02, 0.04), rng)
            planted.add(len(docs))
        else:
            src = rng.choice(pool)
            start = rng.randrange(len(src) // 2)
            text = _perturb(src[start:start + rng.randint(100, 3000)], 0.15, rng)
        docs.append(text)
        size += len(text.encode())
    per = -(-len(docs) // shards)  # shard i holds docs[i*per:(i+1)*per]: ids follow the order
    for i, f in enumerate(files):
        f.writelines(json.dumps({"text": t}, ensure_ascii=False) + "\n" for t in docs[i * per:(i + 1) * per])
        f.close()
    return planted


def _cpu() -> float:
    """CPU seconds used so far by this process and its finished workers."""
    return sum(getattr(resource.getrusage(who), f) for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN)
               for f in ("ru_utime", "ru_stime"))


def _scores(dropped: set[int], planted: set[int]) -> dict[str, float]:
    hit = len(dropped & planted)
    return {"recall": round(hit / max(1, len(planted)), 4), "precision": round(hit / max(1, len(dropped)), 4)}


def run_lmforge(raw: Path, out: Path, workers: int, engine: str) -> float:
    t = time.perf_counter()
    process_sources({"web": read_documents([raw])}, out, [], run=RunOptions(engine, workers))
    return time.perf_counter() - t


def run_all(raw: Path, d: Path, repeats: int, workers: int, engine: str) -> dict[str, list[float] | float]:
    """Wall and CPU seconds of each dedup+write run and each clean+dedup+write run, and the
    largest RSS (MB) of this process and its workers."""
    out: dict[str, list[float] | float] = {"dedup": [], "dedup_cpu": [], "clean": [], "clean_cpu": []}
    for r in range(repeats):
        for kind, fn in (("dedup", run_lmforge), ("clean", run_lmforge_clean)):
            cpu = _cpu()
            out[kind].append(fn(raw, d / f"{kind}{r}", workers, engine))
            out[f"{kind}_cpu"].append(_cpu() - cpu)
    out["rss"] = max(resource.getrusage(w).ru_maxrss for w in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN)) / 1024
    return out


def _speeds(mb: float, seconds: list[float]) -> dict[str, float | list[float]]:
    return {"best": round(mb / min(seconds), 2), "runs": [round(mb / t, 2) for t in seconds]}


def kept_texts(out: Path) -> set[str]:
    return {json.loads(x)["text"] for x in (out / "web.jsonl").read_text("utf-8").splitlines()}


def run_lmforge_clean(raw: Path, out: Path, workers: int, engine: str) -> float:
    """The default cleaning steps + dedup + write (what `lmforge data clean` does)."""
    t = time.perf_counter()
    process_sources({"web": read_documents([raw])}, out, run=RunOptions(engine, workers))
    return time.perf_counter() - t


def run_datatrove(raw: Path, work: Path, workers: int, s: DedupSettings) -> tuple[float, set[str]]:
    """datatrove's 4-stage MinHash (signatures, buckets, clusters, filter) with character 5-gram
    shingles of its own simplified text and the same bands x rows as lmforge."""
    import gzip

    import datatrove.pipeline.dedup.minhash as dm
    import numpy as np
    from datatrove.executor import LocalPipelineExecutor
    from datatrove.pipeline.dedup.minhash import (MinhashBuildIndex, MinhashConfig, MinhashDedupBuckets,
                                                  MinhashDedupCluster, MinhashDedupFilter, MinhashDedupSignature)
    from datatrove.pipeline.readers import JsonlReader
    from datatrove.pipeline.writers import JsonlWriter
    from datatrove.utils.text import simplify_text

    class CharSignature(MinhashDedupSignature):
        def get_shingles(self, text: str) -> np.ndarray:
            t = simplify_text(text, self.config.norm_config)
            grams = [t[i:i + s.ngram] for i in range(max(1, len(t) - s.ngram + 1))]
            return np.fromiter((self._hash_func(g.encode()) for g in grams), dtype=np.uint64).reshape(-1, 1)

    dm.load_word_tokenizer = lambda language: None  # words are not used: shingles are characters
    bands, rows = s.bands
    cfg = MinhashConfig(n_grams=s.ngram, num_buckets=bands, hashes_per_bucket=rows)
    del MinhashBuildIndex
    t = time.perf_counter()
    stages = [
        [JsonlReader(str(raw)), CharSignature(str(work / "sigs"), config=cfg)],
        [MinhashDedupBuckets(str(work / "sigs"), str(work / "buckets"), config=cfg)],
        [MinhashDedupCluster(str(work / "buckets"), str(work / "remove"), config=cfg)],
        [JsonlReader(str(raw)), MinhashDedupFilter(str(work / "remove"), exclusion_writer=JsonlWriter(str(work / "removed"))),
         JsonlWriter(str(work / "kept"))],
    ]
    n_files = len(list(raw.glob("*.jsonl")))
    for i, pipeline in enumerate(stages):
        tasks = bands if i == 1 else (1 if i == 2 else n_files)
        LocalPipelineExecutor(pipeline, tasks=tasks, workers=workers, logging_dir=str(work / f"logs{i}"),
                              skip_completed=False).run()
    seconds = time.perf_counter() - t
    kept = {json.loads(x)["text"] for f in (work / "kept").glob("*") for x in gzip.open(f, "rt", encoding="utf-8")}
    return seconds, kept


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--mb", type=float, default=200)
    ap.add_argument("--shards", type=int, default=16)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--dup-share", type=float, default=0.1)
    ap.add_argument("--engine", choices=["local", "ray"], default="local")
    ap.add_argument("--repeats", type=int, default=1, help="lmforge runs (best and spread reported)")
    ap.add_argument("--no-peer", action="store_true", help="skip datatrove")
    args = ap.parse_args()
    s = DedupSettings(DEFAULT_THRESHOLD)
    with tempfile.TemporaryDirectory() as d:
        raw = Path(d) / "raw"
        raw.mkdir()
        planted = build_input(raw, args.mb, args.shards, args.dup_share)
        # lmforge runs in a fresh process: its workers fork from one that holds no corpus (a
        # forked worker's RSS counts the pages it shares with its parent)
        with ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn")) as pool:
            runs = pool.submit(run_all, raw, Path(d), args.repeats, args.workers, args.engine).result()
        texts = [json.loads(x)["text"] for f in sorted(raw.glob("*.jsonl")) for x in f.read_text("utf-8").splitlines()]
        mb = sum(len(t.encode()) for t in texts) / 1e6
        kept = kept_texts(Path(d) / "dedup0")
        dropped = {i for i, t in enumerate(texts) if t not in kept}
        res = {"MB": round(mb, 1), "docs": len(texts), "planted": len(planted), "workers": args.workers,
               "engine": args.engine, "repeats": args.repeats,
               "clean_dedup_write_MB_per_s": _speeds(mb, runs["clean"]),
               "clean_dedup_write_MB_per_cpu_s": _speeds(mb, runs["clean_cpu"]),
               "dedup_write_MB_per_s": _speeds(mb, runs["dedup"]),
               "dedup_write_MB_per_cpu_s": _speeds(mb, runs["dedup_cpu"]),
               **_scores(dropped, planted), "peak_rss_MB_lmforge": round(runs["rss"], 1)}
        if not args.no_peer:
            dt_seconds, dt_kept = run_datatrove(raw, Path(d) / "dt", args.workers, s)
            dt_dropped = {i for i, t in enumerate(texts) if t not in dt_kept}
            res["datatrove"] = {"MB_per_s": round(mb / dt_seconds, 2), **_scores(dt_dropped, planted),
                                "lmforge_dedup_write_speed_ratio": round(dt_seconds / min(runs["dedup"]), 2)}
        res["peak_rss_MB_this_process"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
    print(json.dumps(res, indent=2))


if __name__ == "__main__":
    main()
