"""Fuzz cases of `pretrain`, `sft`, `dpo`, `scaling *`, `eval *`, `demo`, `run` and `lmforge`
itself: malformed configs and recipes, record shapes, empty evaluation sets, bad numbers."""

from __future__ import annotations

import math

from tests.fuzz.case import Case, case, jsonl, nested_json, out_cases

PRETRAIN = ("model: {preset: tiny, tokenizer: {tok}, hidden_size: 64, intermediate_size: 128,\n"
            "        num_hidden_layers: 1, num_attention_heads: 4, num_key_value_heads: 2}\n"
            "data: {path: {packed}}\ntrain: {max_steps: 1, batch_size: 2, seq_len: 16}\n")
TUNE = "data: {files: [DATA], max_len: 256}\ntrain: {max_steps: 1, batch_size: 2, seq_len: 32}\n"


def _config_cases(verb: str, argv: str, good: str) -> list[Case]:
    """A YAML config file ({tmp}/c.yaml) that is broken in each way a hand-edited file can be."""
    return [
        case(verb, "yaml-broken", argv, "c.yaml", files={"c.yaml": "train: {max_steps: 1\n"}),
        case(verb, "yaml-not-a-mapping", argv, "c.yaml", files={"c.yaml": "- 1\n"}),
        case(verb, "yaml-missing", argv.replace("{tmp}/c.yaml", "{tmp}/none.yaml"), "none.yaml"),
        case(verb, "unknown-key", argv, "wings", files={"c.yaml": good + "wings: 3\n"}),
        case(verb, "batch-size-0", argv + " train.batch_size=0", "batch_size", files={"c.yaml": good}),
        case(verb, "max-steps-negative", argv + " train.max_steps=-3", "max_steps", files={"c.yaml": good}),
        case(verb, "lr-not-a-number", argv + " train.lr=fast", "lr", files={"c.yaml": good}),
        case(verb, "seed-negative", argv + " train.seed=-1", "seed", files={"c.yaml": good}),
        case(verb, "grad-accum-0", argv + " train.grad_accum=0", "grad_accum", files={"c.yaml": good}),
        case(verb, "override-unknown-section", argv + " trian.lr=1", "trian", files={"c.yaml": good}),
    ]


def _pretrain_cases() -> list[Case]:
    p = "{tmp}/c.yaml --out {out}"
    return [*_config_cases("pretrain", p, PRETRAIN),
            *[case("pretrain", c.name, c.argv, *c.expect, files={"c.yaml": PRETRAIN, **c.files})
              for c in out_cases("pretrain", p)],
            case("pretrain", "packed-missing", p, "{tmp}/nothing",
                 files={"c.yaml": PRETRAIN.replace("{packed}", "{tmp}/nothing")}),
            case("pretrain", "manifest-bad-json", p, "manifest.json",
                 files={"c.yaml": PRETRAIN.replace("{packed}", "{tmp}/pk"), "pk/manifest.json": "{\"sources\": "}),
            case("pretrain", "resume-without-checkpoint", p + " --resume", "checkpoint", files={"c.yaml": PRETRAIN})]


def _tune_cases(verb: str, record_cases: list[tuple[str, str, tuple[str, ...]]]) -> list[Case]:
    t = "{tmp}/c.yaml --model {model} --out {out}"
    good = TUNE.replace("DATA", "{%s}" % verb)
    rec = {"c.yaml": TUNE.replace("DATA", "{tmp}/in.jsonl")}
    rows = [case(verb, c.name, c.argv, *c.expect, files={"c.yaml": good, **c.files})
            for c in [*_config_cases(verb, t, good), *out_cases(verb, t)]]
    rows += [case(verb, "model-no-tokenizer", t.replace("{model}", "{notok_model}"), "tokenizer.json",
                  files={"c.yaml": good}),
             case(verb, "model-config-not-an-object", t.replace("{model}", "{badcfg_model}"), "config.json",
                  files={"c.yaml": good}),
             case(verb, "data-nested-json", t, "in.jsonl", files={**rec, "in.jsonl": jsonl(nested_json())}),
             case(verb, "data-invalid-utf8", t, "in.jsonl:1", files={**rec, "in.jsonl": b"\xff{}\n"}),
             case(verb, "data-empty", t, "in.jsonl", files={**rec, "in.jsonl": ""})]
    rows += [case(verb, name, t, *expect, files={**rec, "in.jsonl": jsonl(line)})
             for name, line, expect in record_cases]
    return rows


def _sft_cases() -> list[Case]:
    u = '{"role": "user", "content": "hi"}'
    return _tune_cases("sft", [
        ("messages-a-string", '{"messages": "hello"}', ("in.jsonl:1", "messages")),
        ("roles-human-bot", '{"messages": [{"role": "human", "content": "hi"}, {"role": "bot", "content": "yo"}]}',
         ("in.jsonl:1", "human")),
        ("empty-assistant-turn", '{"messages": [%s, {"role": "assistant", "content": ""}]}' % u,
         ("in.jsonl:1", "empty")),
        ("content-a-number", '{"messages": [%s, {"role": "assistant", "content": 5}]}' % u, ("in.jsonl:1", "content"))])


def _dpo_cases() -> list[Case]:
    return _tune_cases("dpo", [
        ("chosen-a-number", '{"prompt": "1+1?", "chosen": 2, "rejected": "3"}', ("in.jsonl:1", "chosen")),
        ("chosen-empty", '{"prompt": "1+1?", "chosen": "", "rejected": "3"}', ("in.jsonl:1", "chosen")),
        ("rejected-missing", '{"prompt": "1+1?", "chosen": "2"}', ("in.jsonl:1", "rejected"))])


def _scaling_cases() -> list[Case]:
    sw = "{tmp}/c.yaml --depths 1 --tokens 1000 --out {out}"
    fit = "{tmp}/r.csv --out {out}"
    csv = "N,D,loss\n" + "".join(f"{n},{d},{3 + 1e3 / n + 1e4 / d}\n" for n in (1e6, 2e6, 4e6) for d in (1e7, 2e7))
    plan = "--flops 1e20"
    return [
        *[case("scaling sweep", c.name, c.argv, *c.expect, files={"c.yaml": PRETRAIN, **c.files})
          for c in out_cases("scaling sweep", sw)],
        case("scaling sweep", "depth-0", sw.replace("--depths 1", "--depths 0"), "depth", files={"c.yaml": PRETRAIN}),
        case("scaling sweep", "tokens-negative", sw.replace("1000", "-5"), "tokens", files={"c.yaml": PRETRAIN}),
        case("scaling sweep", "aspect-0", sw + " --aspect 0", "aspect", files={"c.yaml": PRETRAIN}),
        case("scaling sweep", "base-yaml-broken", sw, "c.yaml", files={"c.yaml": "model: [\n"}),
        *[case("scaling fit", c.name, c.argv, *c.expect, files={"r.csv": csv, **c.files})
          for c in out_cases("scaling fit", fit, kind="file")],
        case("scaling fit", "header-only", fit, "r.csv", files={"r.csv": "N,D,loss\n"}),
        case("scaling fit", "empty-csv", fit, "r.csv", files={"r.csv": ""}),
        case("scaling fit", "loss-column-missing", fit + " --loss-column best", "best", files={"r.csv": csv}),
        case("scaling fit", "not-a-number", fit, "r.csv", files={"r.csv": csv + "big,1e7,3.1\n"}),
        case("scaling fit", "bootstrap-negative", fit + " --bootstrap -1", "bootstrap", files={"r.csv": csv}),
        case("scaling fit", "plot-is-a-folder", fit + " --plot {tmp}/pl", "{tmp}/pl",
             files={"r.csv": csv, "pl/keep": "x"}),
        *_isoflop_cases(),
        case("scaling plan", "count-negative", "--gpu H100 --count -3 --hours 1", "count"),
        case("scaling plan", "flops-negative", "--flops -1", "flops"),
        case("scaling plan", "mfu-2", plan + " --mfu 2", "mfu"),
        case("scaling plan", "gpu-unknown", "--gpu T1000 --hours 1", "T1000"),
        case("scaling plan", "fit-bad-json", plan + " --fit {tmp}/f.json", "f.json", files={"f.json": "{\"E\": "}),
        case("scaling plan", "fit-not-an-object", plan + " --fit {tmp}/f.json", "f.json", files={"f.json": "[1]"}),
        case("scaling plan", "level-1", plan + " --level 1", "level"),
        case("scaling plan", "nothing-to-plan", "--mfu 0.3", "flops"),
    ]


def _isoflop_cases() -> list[Case]:
    """Exact parabolas at three budgets (loss = 0.1 (ln N - ln N_opt)^2 + 10 C^-0.05, N_opt = C^0.5)."""
    rows = [(c ** 0.5 * f, c, 0.1 * math.log(f) ** 2 + 10 * c ** -0.05) for c in (1e18, 1e19, 1e20) for f in (0.1, 1, 10)]
    csv = "N_total,FLOPs,loss\n" + "".join(f"{n},{c},{loss}\n" for n, c, loss in rows)
    cfg = "results: {tmp}/r.csv\nbootstrap: 0\nout: {out}\n"
    iso = "{tmp}/c.yaml"
    return [
        *[case("scaling isoflop", c.name, c.argv, *c.expect, files={"c.yaml": cfg, "r.csv": csv, **c.files})
          for c in out_cases("scaling isoflop", iso + " out={out}")],
        case("scaling isoflop", "results-missing", iso, "{tmp}/r.csv", "not found", files={"c.yaml": cfg}),
        case("scaling isoflop", "loss-not-a-number", iso, "r.csv:3", "loss",
             files={"c.yaml": cfg, "r.csv": csv.replace(f",{rows[1][2]}\n", ",nan?\n")}),
        case("scaling isoflop", "unknown-key", iso, "bootstrapp", files={"c.yaml": cfg + "bootstrapp: 3\n", "r.csv": csv}),
        case("scaling isoflop", "yaml-broken", iso, "c.yaml", files={"c.yaml": "results: [\n", "r.csv": csv}),
        case("scaling isoflop", "one-budget", iso + " flops=1e18", "budgets", files={"c.yaml": cfg, "r.csv": csv}),
    ]


def _eval_common(verb: str, argv: str, model: bool = True) -> list[Case]:
    rows = [*out_cases(verb, argv), case(verb, "limit-negative", argv + " --limit -3", "limit")]
    if model:
        rows += [case(verb, "model-no-tokenizer", argv.replace("{model}", "{notok_model}"), "tokenizer.json"),
                 case(verb, "model-config-not-an-object", argv.replace("{model}", "{badcfg_model}"), "config.json"),
                 case(verb, "nan-weights", argv.replace("{model}", "{nan_model}"), "not finite")]
    return rows


MC = '{"question": "1+1=?", "choices": ["1", "2", "3", "4"], "answer": "B"}'
GSM = '{"question": "1+1?", "answer": "it is 2 #### 2"}'
TR = '{"zh": "你好", "en": "hello"}'


def _eval_cases() -> list[Case]:
    mc = "--model {model} --tasks jsonl={tmp}/mc.jsonl --out {out}"
    gsm = "--model {model} --data {tmp}/g.jsonl --out {out}"
    tr = "--model {model} --data {tmp}/t.jsonl --out {out}"
    ppl = "--model {model} --files {good} --out {out}"
    con = "--corpus {good} --tasks jsonl={tmp}/mc.jsonl --out {out}"
    elo = "--answers {tmp}/a.jsonl --judge {model} --out {out}"
    rows = [
        *[case("eval mc", c.name, c.argv, *c.expect, files={"mc.jsonl": jsonl(MC), **c.files})
          for c in _eval_common("eval mc", mc)],
        case("eval mc", "empty-task", mc, "mc.jsonl", files={"mc.jsonl": ""}),
        case("eval mc", "ceval-header-only", "--model {model} --tasks ceval={tmp}/ce --out {out}", "ce",
             files={"ce/val/law_val.csv": "id,question,A,B,C,D,answer\n",
                    "ce/dev/law_dev.csv": "id,question,A,B,C,D,answer\n"}),
        case("eval mc", "ceval-question-column-missing", "--model {model} --tasks ceval={tmp}/ce --out {out}",
             "question", files={"ce/val/law_val.csv": "id,A,B,C,D,answer\n1,a,b,c,d,A\n"}),
        case("eval mc", "batch-size-0", mc + " --batch-size 0", "batch_size", files={"mc.jsonl": jsonl(MC)}),
        case("eval mc", "shots-negative", mc + " --shots -1", "shots", files={"mc.jsonl": jsonl(MC)}),
        case("eval mc", "answer-missing", mc, "mc.jsonl:1", "answer", files={"mc.jsonl": jsonl('{"question": "q"}')}),
        case("eval mc", "task-unknown", "--model {model} --tasks wings={tmp}/x --out {out}", "wings"),
        *[case("eval gsm8k", c.name, c.argv, *c.expect, files={"g.jsonl": jsonl(GSM), **c.files})
          for c in _eval_common("eval gsm8k", gsm)],
        case("eval gsm8k", "question-missing", gsm, "g.jsonl:1", "question", files={"g.jsonl": jsonl('{"answer": "#### 2"}')}),
        case("eval gsm8k", "answer-not-numeric", gsm, "g.jsonl:1", files={"g.jsonl": jsonl('{"question": "q", "answer": "x"}')}),
        case("eval gsm8k", "empty-data", gsm, "g.jsonl", files={"g.jsonl": ""}),
        case("eval gsm8k", "batch-size-0", gsm + " --batch-size 0", "batch_size", files={"g.jsonl": jsonl(GSM)}),
        *[case("eval translation", c.name, c.argv, *c.expect, files={"t.jsonl": jsonl(TR), **c.files})
          for c in _eval_common("eval translation", tr)],
        case("eval translation", "zh-missing", tr, "t.jsonl:1", "zh", files={"t.jsonl": jsonl('{"en": "hi"}')}),
        case("eval translation", "empty-data", tr, "t.jsonl", files={"t.jsonl": ""}),
        *_eval_common("eval perplexity", ppl),
        case("eval perplexity", "window-0", ppl + " --window 0", "window"),
        case("eval perplexity", "empty-file", ppl.replace("{good}", "{tmp}/e.jsonl"), "e.jsonl", files={"e.jsonl": ""}),
        *[case("eval contamination", c.name, c.argv, *c.expect, files={"mc.jsonl": jsonl(MC), **c.files})
          for c in _eval_common("eval contamination", con, model=False)],
        case("eval contamination", "ngram-0", con + " --ngram 0", "ngram", files={"mc.jsonl": jsonl(MC)}),
        case("eval contamination", "packed-without-tokenizer", con.replace("{good}", "{packed}"), "tokenizer",
             files={"mc.jsonl": jsonl(MC)}),
        *[case("eval elo", c.name, c.argv, *c.expect, files={"a.jsonl": jsonl('{"question": "q", "answers": {"a": "x", "b": "y"}}'), **c.files})
          for c in _eval_common("eval elo", elo, model=False)],
        case("eval elo", "one-label", elo, "a.jsonl:1", files={"a.jsonl": jsonl('{"question": "q", "answers": {"a": "x"}}')}),
        case("eval elo", "seed-negative", elo + " --seed -1", "seed", files={"a.jsonl": jsonl('{"question": "q", "answers": {"a": "x", "b": "y"}}')}),
        case("eval elo", "rounds-negative", elo + " --rounds -1", "rounds", files={"a.jsonl": jsonl('{"question": "q", "answers": {"a": "x", "b": "y"}}')}),
        case("eval elo", "judge-no-tokenizer", elo.replace("{model}", "{notok_model}"), "tokenizer.json",
             files={"a.jsonl": jsonl('{"question": "q", "answers": {"a": "x", "b": "y"}}')}),
    ]
    return rows


def _recipe_cases() -> list[Case]:
    r = "{tmp}/r.yaml --out {out}"
    good = "name: t\nstages:\n  p: {kind: scaling_plan, flops: 1.0e+18}\n"
    return [
        case("run", "yaml-broken", r, "r.yaml", files={"r.yaml": "stages: {a: [\n"}),
        case("run", "yaml-nested", r, "r.yaml", files={"r.yaml": "a: " + "[" * 5000 + "]" * 5000 + "\n"}),
        case("run", "stages-not-a-mapping", r, "stages", files={"r.yaml": "name: t\nstages: 3\n"}),
        case("run", "stage-kind-unknown", r, "wings", files={"r.yaml": "name: t\nstages:\n  a: {kind: wings}\n"}),
        case("run", "override-unknown-stage", r + " stages.nope.flops=1", "nope", files={"r.yaml": good}),
        case("run", "recipe-unknown", "no-such-recipe --out {out}", "no-such-recipe"),
        case("run", "stage-out-given", r, "out",
             files={"r.yaml": "name: t\nstages:\n  p: {kind: scaling_plan, flops: 1.0e+18, out: x}\n"}),
        *[case("run", c.name, c.argv, *c.expect, files={"r.yaml": good, **c.files}) for c in out_cases("run", r)],
        *out_cases("demo", "--out {out}"),
        case("demo", "override-unknown-key", "--out {out} stages.corpus.wings=3", "wings"),
        case("demo", "scale-unknown", "--out {out} scale=enormous", "enormous"),
        case("", "verb-unknown", "fly", "fly"),
        case("", "no-verb", "", "COMMAND"),
        case("", "flag-unknown", "data clean --input {good} --out {out} --wings 3", "--wings"),
    ]


CASES: list[Case] = [*_pretrain_cases(), *_sft_cases(), *_dpo_cases(), *_scaling_cases(), *_eval_cases(),
                     *_recipe_cases()]
