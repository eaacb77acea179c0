"""Fuzz cases of `model *`, `generate`, `chat`, `serve`, `grow *`, `export gguf`, `select entropy`:
broken model folders, bad sampling numbers, bad devices, bad output paths."""

from __future__ import annotations

from tests.fuzz.case import Case, case, jsonl, nested_json, out_cases

NO_GPU = "no-gpu"  # a case name suffix: run only where CUDA is absent


def _broken_folder_cases(verb: str, argv: str) -> list[Case]:
    """`argv` names the model as {model}: each broken copy must be refused, naming the problem."""
    return [
        case(verb, "config-not-an-object", argv.replace("{model}", "{badcfg_model}"), "config.json"),
        case(verb, "model-missing", argv.replace("{model}", "{tmp}/none"), "{tmp}/none"),
        case(verb, "config-bad-json", argv.replace("{model}", "{tmp}/m"), "config.json",
             files={"m/config.json": "{\"hidden_size\": 64,"}),
        case(verb, "config-nested-json", argv.replace("{model}", "{tmp}/m"), "config.json",
             files={"m/config.json": nested_json(50_000)}),
        case(verb, "weights-missing", argv.replace("{model}", "{tmp}/m"), "{tmp}/m",
             files={"m/config.json": '{"model_type": "llama", "hidden_size": 64}'}),
    ]


def _inference_cases(verb: str, argv: str, sampling: bool = True) -> list[Case]:
    """Folders, devices and numbers refused by every verb that runs a model for text."""
    rows = [*_broken_folder_cases(verb, argv),
            case(verb, "nan-weights", argv.replace("{model}", "{nan_model}"), "not finite"),
            case(verb, "no-tokenizer", argv.replace("{model}", "{notok_model}"), "tokenizer.json"),
            case(verb, "device-" + NO_GPU, argv + " --device cuda", "CUDA is not available"),
            case(verb, "device-unknown", argv + " --device toaster", "toaster"),
            case(verb, "dtype-unknown", argv + " --dtype fp7", "fp7")]
    if sampling:
        rows += [case(verb, "top-k-negative", argv + " --top-k -3", "top_k"),
                 case(verb, "top-p-0", argv + " --top-p 0", "top_p"),
                 case(verb, "temperature-negative", argv + " --temperature -1", "temperature"),
                 case(verb, "max-new-tokens-negative", argv + " --max-new-tokens -3", "max_new_tokens")]
    return rows


def _generate_cases() -> list[Case]:
    g = "{model} --prompt hello"
    return [*_inference_cases("generate", g),
            case("generate", "past-context", g + " --max-new-tokens 100000", "max_new_tokens", "context"),
            case("generate", "prompt-past-context", ["{model}", "--prompt", "hello " * 3000], "prompt", "context"),
            case("generate", "system-without-chat", g + " --system be-nice", "--system"),
            case("generate", "no-prompt", "{model}", "prompt"),
            case("generate", "seed-negative", g + " --seed -5", "seed")]


def _chat_serve_cases() -> list[Case]:
    chat = [*_inference_cases("chat", "{model}"),
            case("chat", "stdin-invalid-utf8", "{model} --max-new-tokens 2", "not UTF-8", rc=0, stdin=b"hi \xff\xfe there\n")]
    s = "{model} --port 8765"
    serve = [*_inference_cases("serve", s, sampling=False),
             case("serve", "port-negative", "{model} --port -1", "port"),
             case("serve", "port-too-big", "{model} --port 70000", "port"),
             case("serve", "max-batch-0", s + " --max-batch 0", "max_batch"),
             case("serve", "max-tokens-cap-0", s + " --max-tokens-cap 0", "max_tokens_cap")]
    return chat + serve


def _model_cases() -> list[Case]:
    init = "--preset tiny --tokenizer {tok} --out {out}"
    return [
        *out_cases("model init", init),
        case("model init", "preset-unknown", "--preset gigantic --out {out}", "gigantic"),
        case("model init", "override-unknown-key", init + " num_wings=3", "num_wings"),
        case("model init", "override-negative-layers", init + " num_hidden_layers=-2", "num_hidden_layers"),
        case("model init", "from-config-not-an-object", "--from {badcfg_model} --out {out}", "config.json"),
        case("model init", "seed-not-a-number", init + " --seed abc", "seed"),
        case("model init", "seed-past-64-bits", init + " --seed 1180591620717411303424", "seed"),
        case("model info", "config-not-an-object", "{badcfg_model}", "config.json"),
        case("model info", "model-missing", "{tmp}/none", "{tmp}/none"),
        case("model info", "seq-len-negative", "--preset tiny --seq-len -3", "seq_len"),
        case("model info", "train-bad-key", "--preset tiny --train wings=2", "wings"),
        case("model info", "train-not-a-number", "--preset tiny --train seq_len=long", "seq_len"),
        case("model info", "train-batch-0", "--preset tiny --train seq_len=128,batch_size=0", "batch_size"),
    ]


def _grow_cases() -> list[Case]:
    dus, up = "--model {model} --drop 0 --out {out}", "--model {model} --experts 2 --top-k 1 --out {out}"
    vocab = "--model {model} --tokenizer {tok} --out {out}"
    sl = "{tmp}/slices.yaml --out {out}"
    good_slices = "slices:\n  - {model: {model}, layer_range: [0, 2]}\n"
    return [
        *out_cases("grow dus", dus), *_broken_folder_cases("grow dus", dus),
        case("grow dus", "drop-negative", dus.replace("0", "-3"), "drop"),
        case("grow dus", "drop-all-layers", dus.replace("--drop 0", "--drop 5"), "drop"),
        *out_cases("grow upcycle", up),
        case("grow upcycle", "top-k-negative", up.replace("--top-k 1", "--top-k -3"), "top_k"),
        case("grow upcycle", "experts-0", up.replace("--experts 2", "--experts 0"), "experts"),
        case("grow upcycle", "top-k-above-experts", up.replace("--top-k 1", "--top-k 5"), "top_k"),
        *out_cases("grow vocab", vocab),
        case("grow vocab", "tokenizer-missing", vocab.replace("{tok}", "{tmp}/none"), "{tmp}/none"),
        case("grow vocab", "vocab-size-0", vocab + " --vocab-size 0", "vocab_size"),
        *[case("grow slices", c.name, c.argv, *c.expect, files={"slices.yaml": good_slices, **c.files})
          for c in out_cases("grow slices", sl)],
        case("grow slices", "yaml-broken", sl, "slices.yaml", files={"slices.yaml": "slices: [\n  - {model: \n"}),
        case("grow slices", "yaml-not-a-mapping", sl, "slices.yaml", files={"slices.yaml": "- 1\n- 2\n"}),
        case("grow slices", "slices-not-a-list", sl, "slices", files={"slices.yaml": "slices: 3\n"}),
        case("grow slices", "range-reversed", sl, "layer_range",
             files={"slices.yaml": "slices:\n  - {model: {model}, layer_range: [2, 0]}\n"}),
        case("grow slices", "range-past-depth", sl, "layer_range",
             files={"slices.yaml": "slices:\n  - {model: {model}, layer_range: [0, 9]}\n"}),
        case("grow slices", "unknown-key", sl, "wings", files={"slices.yaml": good_slices + "wings: 2\n"}),
    ]


def _export_cases() -> list[Case]:
    g = "--model {model} --out {out}"
    return [*out_cases("export gguf", g, kind="file"), *_broken_folder_cases("export gguf", g),
            case("export gguf", "nan-weights", g.replace("{model}", "{nan_model}"), "not finite"),
            case("export gguf", "type-unknown", g + " --type q2", "--type")]


def _select_cases() -> list[Case]:
    s = "--model {model} --data {sft} --heldout {good} --out {out}"
    return [*out_cases("select entropy", s), *_broken_folder_cases("select entropy", s),
            case("select entropy", "clusters-0", s + " --clusters 0", "clusters"),
            case("select entropy", "batch-size-0", s + " --batch-size 0", "batch_size"),
            case("select entropy", "band-reversed", s + " --low 2 --high 1", "high"),
            case("select entropy", "data-bad-json", s.replace("{sft}", "{tmp}/in.jsonl"), "in.jsonl:1",
                 files={"in.jsonl": jsonl("{no")}),
            case("select entropy", "heldout-empty", s.replace("{good}", "{tmp}/empty.jsonl"), "empty.jsonl",
                 files={"empty.jsonl": ""})]


CASES: list[Case] = [*_model_cases(), *_generate_cases(), *_chat_serve_cases(), *_grow_cases(),
                     *_export_cases(), *_select_cases()]
