"""Fuzz cases of `data *`, `tokenizer *` and `sft-data *`: malformed text and instruction files,
bad numbers, bad output paths."""

from __future__ import annotations

from tests.fuzz.case import Case, case, gz_corrupt, jsonl, nested_json, out_cases

GOOD = '{"text": "a good document with enough words to keep after cleaning, twelve words or more"}'
OTHER = '{"text": "rivers, mountains and the weather of spring are this other record\'s subject today"}'
BAD_UTF8 = "\n".join([GOOD.replace("good", f"good {i}") for i in range(40)]).encode() + \
    b'\n{"text": "bad byte \xff here"}\n'


BAD_RECORDS = jsonl('{"text": 5}', '"just a string"', '{"txt": "x"}', "\x00\x00")


def _reader_cases(verb: str, base: str, counted: bool = False) -> list[Case]:
    """Input files every reader-based verb must refuse (exit 2) naming the file (and line); with
    `counted`, a file of only bad records (or none) is a result with its skips counted instead."""
    inp = base.replace("{input}", "{tmp}/in.jsonl")
    if counted:
        unusable = [
            case(verb, "nested-json", inp, "in.jsonl:1", "nested", rc=0, files={"in.jsonl": jsonl(nested_json())}),
            case(verb, "empty-file", inp, '"in": 0', rc=0, files={"in.jsonl": ""}),
            case(verb, "only-bad-records", inp, "in.jsonl:1", "in.jsonl:4", "skipped 4", rc=0,
                 files={"in.jsonl": BAD_RECORDS})]
    else:
        unusable = [
            case(verb, "nested-json", inp, "in.jsonl", files={"in.jsonl": jsonl(nested_json())}),
            case(verb, "empty-file", inp, "in.jsonl", files={"in.jsonl": ""}),
            case(verb, "only-bad-records", inp, "in.jsonl", files={"in.jsonl": BAD_RECORDS})]
    return [*unusable,
        case(verb, "corrupt-gz", base.replace("{input}", "{tmp}/in.jsonl.gz"), "in.jsonl.gz",
             files={"in.jsonl.gz": gz_corrupt(GOOD + "\n")}),
        case(verb, "missing-input", base.replace("{input}", "{tmp}/nothing.jsonl"), "nothing.jsonl"),
        case(verb, "strict-bad-json", inp + " --strict", "in.jsonl:2", files={"in.jsonl": jsonl(GOOD, "{oops")}),
    ]


def _clean_cases(verb: str) -> list[Case]:
    base = "--input {input} --out {out}"
    inp = base.replace("{input}", "{tmp}/in.jsonl")
    return [
        *_reader_cases(verb, base, counted=True),
        *out_cases(verb, base.replace("{input}", "{good}")),
        case(verb, "bad-byte-loses-one-record", inp, "in.jsonl:41", "40", rc=0, files={"in.jsonl": BAD_UTF8}),
        case(verb, "bom-read", inp, "| in | 2 |", rc=0,
             files={"in.jsonl": b"\xef\xbb\xbf" + jsonl(GOOD, OTHER).encode()}),
        case(verb, "skips-counted", inp, "invalid JSON", "truncated", rc=0,
             files={"in.jsonl": jsonl(GOOD, "{bad json", '{"text": 3}', '{"body": "x"}') + GOOD[:20]}),
        case(verb, "latin1-counted", inp, "in.jsonl:2", rc=0,
             files={"in.jsonl": GOOD.encode() + b'\n{"text": "caf\xe9 cr\xe8me"}\n'}),
        case(verb, "corrupt-second-input", "--input {good} {tmp}/in.jsonl.gz --out {tmp}/clean",
             "in.jsonl.gz", files={"in.jsonl.gz": gz_corrupt(GOOD + "\n")}),
        case(verb, "integer-5000-digits", inp, "in.jsonl:2", rc=0,
             files={"in.jsonl": jsonl(GOOD, '{"text": "x", "n": %s}' % ("7" * 5000))}),
        case(verb, "unterminated-50mb-line", inp, "in.jsonl:2", "truncated", rc=0, slow=True,
             files={"in.jsonl": GOOD + '\n{"text": "' + "x" * 50_000_000}),
        case(verb, "threshold-above-1", base.replace("{input}", "{good}") + " --threshold 2", "threshold"),
        case(verb, "threshold-negative", base.replace("{input}", "{good}") + " --threshold -1", "threshold"),
    ]


def _pack_cases() -> list[Case]:
    base = "--input {input} --tokenizer {tok} --out {out} --workers 1"
    good = base.replace("{input}", "{good}")
    return [
        *_reader_cases("data pack", base),
        *out_cases("data pack", good),
        case("data pack", "shard-tokens-0", good + " --shard-tokens 0", "shard_tokens"),
        case("data pack", "shard-tokens-negative", good + " --shard-tokens -5", "shard_tokens"),
        case("data pack", "workers-0", good + " --workers 0", "workers"),
        case("data pack", "val-fraction-2", good + " --val-fraction 2", "val_fraction"),
        case("data pack", "tokenizer-missing", good.replace("{tok}", "{tmp}/notok"), "{tmp}/notok"),
        case("data pack", "tokenizer-config-bad-json-2", good.replace("{tok}", "{badtokcfg_model}"),
             "tokenizer_config.json"),
        case("data pack", "tokenizer-config-bad-json", good.replace("{tok}", "{tmp}/tk"), "tokenizer",
             files={"tk/tokenizer.json": "{", "tk/tokenizer_config.json": "{not json"}),
    ]


def _demo_corpus_cases() -> list[Case]:
    v, base = "data demo-corpus", "--max-chars 2000 --out {out}"
    return [*out_cases(v, base),
            case(v, "max-chars-negative", "--max-chars -3 --out {out}", "max_chars"),
            case(v, "zh-share-2", base + " --zh-share 2", "zh_share"),
            case(v, "zh-share-text", base + " --zh-share lots", "zh_share")]


def _tokenizer_cases() -> list[Case]:
    train = "--input {input} --out {out} --vocab-size 300"
    good = train.replace("{input}", "{good}")
    ext = "--base {tok} --add {tok} --out {out}"
    stats = "{tok} --input {good}"
    return [
        *_reader_cases("tokenizer train", train),
        *out_cases("tokenizer train", good),
        case("tokenizer train", "vocab-size-0", good.replace("300", "0"), "vocab_size"),
        case("tokenizer train", "vocab-size-negative", good.replace("300", "-3"), "vocab_size"),
        case("tokenizer train", "sample-chars-0", good + " --sample-chars 0", "sample_chars"),
        *out_cases("tokenizer extend", ext),
        case("tokenizer extend", "add-size-0", "--base {tok} --train-on {good} --add-size 0 --out {out}", "add_size"),
        case("tokenizer extend", "base-missing", ext.replace("--base {tok}", "--base {tmp}/none"), "{tmp}/none"),
        case("tokenizer extend", "base-config-bad-json", ext.replace("--base {tok}", "--base {tmp}/tk"),
             "tk/tokenizer", files={"tk/tokenizer.json": "{}", "tk/tokenizer_config.json": "{nope"}),
        case("tokenizer stats", "tokenizer-config-bad-json", "{badtokcfg_model} --input {good}",
             "tokenizer_config.json"),
        case("tokenizer stats", "max-chars-0", stats + " --max-chars 0", "max_chars"),
        case("tokenizer stats", "tokenizer-missing", "{tmp}/none --input {good}", "{tmp}/none"),
        case("tokenizer stats", "corrupt-gz", "{tok} --input {tmp}/in.jsonl.gz", "in.jsonl.gz",
             files={"in.jsonl.gz": gz_corrupt(GOOD + "\n")}),
        case("tokenizer stats", "empty-input", "{tok} --input {tmp}/in.jsonl", "in.jsonl", files={"in.jsonl": ""}),
        case("tokenizer stats", "compare-bad-json", stats + " --compare {tmp}/tk", "tokenizer",
             files={"tk/tokenizer.json": "[1,", "tk/tokenizer_config.json": "{}"}),
    ]


MSG = '{"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello"}]}'


def _sft_record_cases(verb: str, argv: str) -> list[Case]:
    """Instruction files whose records have the wrong shape: named by file:line and field."""
    return [
        case(verb, "messages-a-string", argv, "in.jsonl:1", "messages",
             files={"in.jsonl": jsonl('{"messages": "hello there"}')}),
        case(verb, "invalid-utf8", argv, "in.jsonl:2", files={"in.jsonl": MSG.encode() + b"\n\xff\xfe{\n"}),
        case(verb, "bad-json", argv, "in.jsonl:2", files={"in.jsonl": jsonl(MSG, "{nope")}),
        case(verb, "nested-json", argv, "in.jsonl", files={"in.jsonl": jsonl(nested_json())}),
        case(verb, "missing-input", argv.replace("{tmp}/in.jsonl", "{tmp}/none.jsonl"), "none.jsonl"),
        case(verb, "integer-5000-digits", argv, "in.jsonl:1", files={"in.jsonl": jsonl('{"n": %s}' % ("7" * 5000))}),
    ]


def _sft_data_cases() -> list[Case]:
    lang, length = "filter-lang", "filter-length"
    fl = "{tmp}/in.jsonl {out} --tokenizer {tok}"
    return [
        *_sft_record_cases(f"sft-data {lang}", "{tmp}/in.jsonl {out} --lang en"),
        *out_cases(f"sft-data {lang}", "{alpaca} {out}", kind="file"),
        case(f"sft-data {lang}", "lang-unknown", "{alpaca} {out} --lang fr", "--lang"),
        *_sft_record_cases(f"sft-data {length}", fl),
        *out_cases(f"sft-data {length}", "{alpaca} {out} --tokenizer {tok}", kind="file"),
        case(f"sft-data {length}", "min-above-max", "{alpaca} {out} --tokenizer {tok} --min 50 --max 5", "max"),
        case(f"sft-data {length}", "min-negative", "{alpaca} {out} --tokenizer {tok} --min -3", "min_tokens"),
        *_sft_record_cases("sft-data mix", "{tmp}/in.jsonl:1 --out {out} --total 4"),
        *out_cases("sft-data mix", "{alpaca}:1 --out {out} --total 4", kind="file"),
        case("sft-data mix", "total-negative", "{alpaca}:1 --out {out} --total -3", "total"),
        case("sft-data mix", "weight-negative", "{alpaca}:-1 --out {out} --total 4", "-1"),
        case("sft-data mix", "weight-not-a-number", "{alpaca}:lots --out {out} --total 4", "lots"),
        *_sft_record_cases("sft-data exam", "{tmp}/in.jsonl {out}"),
        *out_cases("sft-data exam", "{alpaca} {out}"),
        case("sft-data exam", "question-missing", "{tmp}/in.jsonl {out}", "in.jsonl:1",
             files={"in.jsonl": jsonl('{"answer": "A"}')}),
        *out_cases("sft-data self-cognition", "{out} --name Tiny --author Me --count 4", kind="file"),
        case("sft-data self-cognition", "count-negative", "{out} --name Tiny --author Me --count -3", "count"),
        case("sft-data self-cognition", "name-missing", "{out} --author Me", "name"),
        *out_cases("sft-data self-instruct",
                   "--teacher http://127.0.0.1:9/v1 --seed-tasks {alpaca} --n 2 --out {out}", kind="file"),
        case("sft-data self-instruct", "n-negative",
             "--teacher http://127.0.0.1:9/v1 --seed-tasks {alpaca} --n -3 --out {out}", "n"),
        case("sft-data self-instruct", "rps-0",
             "--teacher http://127.0.0.1:9/v1 --seed-tasks {alpaca} --n 2 --rps 0 --out {out}", "rps"),
        case("sft-data self-instruct", "seed-tasks-bad-json",
             "--teacher http://127.0.0.1:9/v1 --seed-tasks {tmp}/in.jsonl --n 2 --out {out}", "in.jsonl:1",
             files={"in.jsonl": jsonl("{oops")}),
        case("sft-data self-instruct", "teacher-not-a-url",
             "--teacher not-a-url --seed-tasks {alpaca} --n 2 --out {out}", "not-a-url"),
    ]


CASES: list[Case] = [*_clean_cases("data clean"), *_clean_cases("data dedup"), *_pack_cases(),
                     *_demo_corpus_cases(), *_tokenizer_cases(), *_sft_data_cases()]
