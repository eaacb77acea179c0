"""Pack throughput: `pack_texts` tokens/s vs the raw fast tokenizer's `encode_batch` on the same text.

Both use the same tokenizer (a byte-level BPE trained here with `tokenizers`, or the 256-byte
tokenizer with --byte) on the built-in bilingual corpus, in one process. Target: ratio >= 0.8.

    python benchmarks/data_pack.py --chars 4000000 --workers 2
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time

from lmforge.data.corpus import demo_corpus
from lmforge.tokens.pack import pack_texts
from lmforge.tokenizer import Tokenizer
from lmforge.tokenizer.core import SPECIAL_TOKENS, byte_tokenizer


def bpe_tokenizer(docs: list[str], vocab_size: int) -> Tokenizer:
    from tokenizers import Tokenizer as HFTokenizer, decoders, models, pre_tokenizers, trainers

    base = byte_tokenizer()
    specials = list(SPECIAL_TOKENS.values())
    tok = HFTokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    tok.train_from_iterator(docs, trainers.BpeTrainer(
        vocab_size=vocab_size, special_tokens=specials, initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False))
    return Tokenizer(tok, base.config)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--chars", type=int, default=4_000_000)
    ap.add_argument("--vocab", type=int, default=8192)
    ap.add_argument("--byte", action="store_true", help="use the 256-byte tokenizer (no training)")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()

    docs = [d for ds in demo_corpus(args.chars).values() for d in ds]
    tok = byte_tokenizer() if args.byte else bpe_tokenizer(docs[:2000], args.vocab)
    n_tokens = sum(len(x) for x in tok.tok.encode_batch(docs[:64]))  # warm-up

    def raw() -> int:
        n = 0
        for i in range(0, len(docs), 512):
            n += sum(len(e.ids) for e in tok.tok.encode_batch(docs[i:i + 512]))
        return n

    def packed() -> int:
        with tempfile.TemporaryDirectory() as d:
            out = pack_texts({"all": docs}, tok, f"{d}/p", workers=args.workers)
            m = json.loads((out / "manifest.json").read_text())["sources"]["all"]["tokens"]
            return m["train"] + m["val"] - len(docs)  # minus the appended EOS tokens

    best = {}
    for name, fn in (("raw_encode_batch", raw), ("pack_texts", packed)):
        times = []
        for _ in range(args.repeats):
            t = time.perf_counter()
            n_tokens = fn()
            times.append(time.perf_counter() - t)
        best[name] = n_tokens / min(times)
    mb = sum(len(d.encode()) for d in docs) / 1e6
    print(json.dumps({"docs": len(docs), "MB": round(mb, 2), "tokens": n_tokens,
                      "raw_tokens_per_s": round(best["raw_encode_batch"]),
                      "pack_tokens_per_s": round(best["pack_texts"]),
                      "ratio": round(best["pack_texts"] / best["raw_encode_batch"], 3)}, indent=2))


if __name__ == "__main__":
    main()
