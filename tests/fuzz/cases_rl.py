"""Fuzz cases of `rm`, `rl` and `sample-pairs`: broken configs, pair and prompt records, bad rewards and options."""

from __future__ import annotations

from tests.fuzz.case import Case, case, jsonl
from tests.fuzz.cases_train import _config_cases

RM = "data: {files: [{tmp}/in.jsonl], max_len: 256}\ntrain: {max_steps: 1, batch_size: 2, device: cpu}\n"
RL = ("prompts: {files: [{tmp}/in.jsonl]}\nrewards: [{kind: numeric}]\ngrpo: {group: 2}\n"
      "sampling: {max_new_tokens: 2}\ntrain: {max_steps: 1, batch_size: 2, device: cpu}\n")
PAIRS = "prompts: {files: [{tmp}/in.jsonl]}\nrewards: [{kind: exact}]\nk: 2\nsampling: {max_new_tokens: 2}\ndevice: cpu\n"
PAIR = '{"prompt": "1+1?", "chosen": "2", "rejected": "3"}'
PROMPT = '{"prompt": "1+1?", "answer": "#### 2"}'


def _rm_cases() -> list[Case]:
    t = "{tmp}/c.yaml --model {model} --out {out}"
    good = {"c.yaml": RM, "in.jsonl": jsonl(PAIR)}
    return [*[case("rm", c.name, c.argv, *c.expect, files={**good, **c.files}) for c in _config_cases("rm", t, RM)],
            case("rm", "model-no-tokenizer", t.replace("{model}", "{notok_model}"), "tokenizer.json", files=good),
            case("rm", "data-missing", t, "in.jsonl", files={"c.yaml": RM}),
            case("rm", "data-invalid-utf8", t, "in.jsonl:1", files={"c.yaml": RM, "in.jsonl": b"\xff{}\n"}),
            case("rm", "margin-missing", t + " rm.margin=true", "in.jsonl:1", "margin", files=good),
            case("rm", "heldout-fraction-1", t + " data.heldout_fraction=1", "heldout_fraction", files=good),
            case("rm", "all-held-out", t + " data.heldout_fraction=0.9", "heldout_fraction", files=good)]


def _rl_cases() -> list[Case]:
    t = "{tmp}/c.yaml --model {model} --out {out}"
    good = {"c.yaml": RL, "in.jsonl": jsonl(PROMPT)}
    return [*[case("rl", c.name, c.argv, *c.expect, files={**good, **c.files}) for c in _config_cases("rl", t, RL)],
            case("rl", "model-no-tokenizer", t.replace("{model}", "{notok_model}"), "tokenizer.json", files=good),
            case("rl", "answer-missing", t, "in.jsonl:1", "answer", files={"c.yaml": RL, "in.jsonl": jsonl('{"prompt": "x"}')}),
            case("rl", "prompts-empty", t, "in.jsonl", files={"c.yaml": RL, "in.jsonl": ""}),
            case("rl", "regex-without-pattern", t, "pattern",
                 files={**good, "c.yaml": RL.replace("{kind: numeric}", "{kind: regex}")}),
            case("rl", "regex-broken", t, "pattern",
                 files={**good, "c.yaml": RL.replace("{kind: numeric}", "{kind: regex, pattern: '('}")}),
            case("rl", "reward-kind-unknown", t, "kind", files={**good, "c.yaml": RL.replace("numeric", "bogus")}),
            case("rl", "reward-model-missing", t, "not a reward-model folder",
                 files={**good, "c.yaml": RL.replace("{kind: numeric}", "{kind: model, path: {tmp}/nowhere}")}),
            case("rl", "judge-without-url", t, "url", files={**good, "c.yaml": RL.replace("numeric", "judge")}),
            case("rl", "ppo-cliprange-1", t + " algorithm=ppo ppo.cliprange=1", "cliprange", files=good),
            case("rl", "rejection-k-1", t + " algorithm=rejection_sampling rejection.k=1", "rejection.k", files=good),
            case("rl", "group-not-dividing-batch", t + " grpo.group=3", "grpo.group", files=good),
            case("rl", "fsdp", t + " train.distributed=fsdp", "fsdp", files=good)]


def _pairs_cases() -> list[Case]:
    t = "{tmp}/c.yaml --model {model} --out {out}"
    good = {"c.yaml": PAIRS, "in.jsonl": jsonl(PROMPT)}
    return [*[case("sample-pairs", c.name, c.argv, *c.expect, files={**good, **c.files})
              for c in _config_cases("sample-pairs", t, PAIRS)],
            case("sample-pairs", "model-no-tokenizer", t.replace("{model}", "{notok_model}"), "tokenizer.json", files=good),
            case("sample-pairs", "answer-missing", t, "in.jsonl:1", "answer",
                 files={"c.yaml": PAIRS, "in.jsonl": jsonl('{"prompt": "x"}')}),
            case("sample-pairs", "prompts-empty", t, "in.jsonl", files={"c.yaml": PAIRS, "in.jsonl": ""}),
            case("sample-pairs", "k-1", t + " --k 1", "k", files=good),
            case("sample-pairs", "pairs-per-prompt-0", t + " --pairs-per-prompt 0", "pairs_per_prompt", files=good),
            case("sample-pairs", "reward-kind-unknown", t, "kind",
                 files={**good, "c.yaml": PAIRS.replace("exact", "bogus")})]


CASES: list[Case] = [*_rm_cases(), *_rl_cases(), *_pairs_cases()]
