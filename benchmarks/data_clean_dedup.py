"""Clean + dedup throughput (MB/s of UTF-8 input) on the built-in bilingual corpus, one process.

Times the default cleaning steps, the deduplicator (exact + MinHash LSH, char 5-grams) and the
whole `process_sources` (clean + dedup + jsonl + report) separately.

    python benchmarks/data_clean_dedup.py --chars 4000000
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time

from lmforge.data.clean import Cleaner
from lmforge.data.corpus import demo_corpus
from lmforge.data.dedup import Deduplicator
from lmforge.data.pipeline import process_sources


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--chars", type=int, default=4_000_000)
    args = ap.parse_args()
    corpus = demo_corpus(args.chars)
    docs = [d for ds in corpus.values() for d in ds]
    mb = sum(len(d.encode()) for d in docs) / 1e6

    def timed(fn) -> float:
        t = time.perf_counter()
        fn()
        return mb / (time.perf_counter() - t)

    cleaner, dedup = Cleaner(), Deduplicator()
    results = {"docs": len(docs), "MB": round(mb, 2),
               "clean_MB_per_s": timed(lambda: [cleaner(d) for d in docs]),
               "dedup_MB_per_s": timed(lambda: [dedup.keep(d) for d in docs])}
    with tempfile.TemporaryDirectory() as d:
        results["pipeline_MB_per_s"] = timed(lambda: process_sources(corpus, d))
    print(json.dumps({k: round(v, 2) if isinstance(v, float) else v for k, v in results.items()}, indent=2))


if __name__ == "__main__":
    main()
