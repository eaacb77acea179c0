"""Tokenizer training time (8k vocabulary on 5 MB of text) and the Chinese-LLaMA extension gain.

1. Trains each requested type on --mb megabytes (UTF-8) of the built-in bilingual corpus and
   prints seconds and MB/s. Target: seconds, not minutes, for 8k on 5 MB.
2. Trains an English-only byte-level BPE base and a Chinese-only addition on the training
   part, extends the base, and prints tokens on held-out real Chinese text before / after
   (the ratio; Chinese-LLaMA reports about 0.5) and whether English tokenizes identically.

    python benchmarks/tokenizer_train.py --mb 5 --vocab 8000
    python benchmarks/tokenizer_train.py --types bytelevel-bpe sentencepiece-bpe
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from lmforge.data.corpus import demo_corpus
from lmforge.tokenizer.extend import extend_tokenizer
from lmforge.tokenizer.train import TYPES, train_tokenizer


def take_bytes(docs: list[str], n_bytes: int) -> list[str]:
    out, total = [], 0
    for d in docs:
        if total >= n_bytes:
            break
        out.append(d)
        total += len(d.encode("utf-8"))
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--mb", type=float, default=5.0)
    ap.add_argument("--vocab", type=int, default=8000)
    ap.add_argument("--types", nargs="+", default=["bytelevel-bpe"], choices=TYPES)
    ap.add_argument("--add-vocab", type=int, default=8000, help="vocabulary of the Chinese addition")
    args = ap.parse_args()

    corpus = demo_corpus(max_chars=int(args.mb * 1e6))  # Chinese is 3 bytes/char: more than enough
    zh, en = corpus["zh"], corpus["en"]
    mixed = take_bytes([d for pair in zip(zh, en) for d in pair] + zh[len(en):] + en[len(zh):],
                       int(args.mb * 1e6))
    size = sum(len(d.encode("utf-8")) for d in mixed) / 1e6
    zh_set = set(zh)
    zh_mb = sum(len(d.encode("utf-8")) for d in mixed if d in zh_set) / 1e6
    print(f"corpus: {size:.2f} MB ({zh_mb:.2f} MB Chinese), {len(mixed)} documents "
          f"({sum(map(len, mixed)) / 1e6:.2f}M chars)")
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        for kind in args.types:
            t0 = time.perf_counter()
            tok = train_tokenizer(mixed, args.vocab, root / kind, kind)
            dt = time.perf_counter() - t0
            print(f"train {kind:22s} vocab {tok.vocab_size:6d}: {dt:6.1f} s ({size / dt:.2f} MB/s)")

        held_zh = zh[-max(1, len(zh) // 10):]
        train_zh = zh[: len(zh) - len(held_zh)]
        base = train_tokenizer(en, args.vocab, root / "base-en")
        train_tokenizer(train_zh, args.add_vocab, root / "add-zh")
        info = extend_tokenizer(root / "base-en", root / "add-zh", root / "ext")
        from lmforge.tokenizer import Tokenizer

        ext = Tokenizer.from_dir(root / "ext")
        text = "\n".join(held_zh)
        before, after = len(base.encode(text)), len(ext.encode(text))
        english = "\n".join(en[-20:])
        same = base.encode(english) == ext.encode(english)
        print(f"extend: base {info['base_vocab']} + {info['added']} Chinese pieces = {info['vocab']}")
        print(f"held-out Chinese ({len(text):,} chars): {before:,} -> {after:,} tokens, "
              f"ratio {after / before:.2f}; English identical: {same}")


if __name__ == "__main__":
    main()
