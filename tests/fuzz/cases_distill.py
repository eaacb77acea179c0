"""Fuzz cases of `distill`: broken configs, missing or unusable teacher/student folders, bad
loss settings, an endpoint that is not a URL, conversations that are not there."""

from __future__ import annotations

from tests.fuzz.case import Case, case, jsonl, out_cases
from tests.fuzz.cases_train import _config_cases

DISTILL = ("teacher: {model}\nmodel: {model}\nsft_data: {files: [{tmp}/in.jsonl], max_len: 64}\n"
           "train: {max_steps: 1, batch_size: 2, device: cpu}\n")
CHAT = '{"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello"}]}'


def _distill_cases() -> list[Case]:
    t = "{tmp}/c.yaml --out {out}"
    good = {"c.yaml": DISTILL, "in.jsonl": jsonl(CHAT)}
    bad_yaml = lambda old, new: {**good, "c.yaml": DISTILL.replace(old, new)}  # noqa: E731
    return [*[case("distill", c.name, c.argv, *c.expect, files={**good, **c.files})
              for c in [*_config_cases("distill", t, DISTILL), *out_cases("distill", t)]],
            case("distill", "teacher-missing", t + " --teacher {tmp}/none", "{tmp}/none", files=good),
            case("distill", "teacher-no-tokenizer", t + " --teacher {notok_model}", "tokenizer.json", files=good),
            case("distill", "teacher-config-not-an-object", t + " --teacher {badcfg_model}", "config.json",
                 files=good),
            case("distill", "student-no-tokenizer", t, "tokenizer.json",
                 files=bad_yaml("model: {model}", "model: {notok_model}")),
            case("distill", "no-teacher", t, "endpoint", files=bad_yaml("teacher: {model}\n", "")),
            case("distill", "data-and-sft-data", t + " data.path={packed}", "not both", files=good),
            case("distill", "jsd-beta-1", t + " kd.divergence=jsd kd.beta=1", "kd.beta", files=good),
            case("distill", "temperature-0", t + " kd.temperature=0", "kd.temperature", files=good),
            case("distill", "alpha-above-1", t + " kd.alpha=1.5", "kd.alpha", files=good),
            case("distill", "divergence-unknown", t + " kd.divergence=kl", "kd.divergence", files=good),
            case("distill", "endpoint-not-a-url", t + " endpoint.url=ftp://x", "endpoint.url", files=good),
            case("distill", "sft-data-missing", t, "in.jsonl", files={"c.yaml": DISTILL}),
            case("distill", "sft-data-invalid-utf8", t, "in.jsonl:1", files={"c.yaml": DISTILL, "in.jsonl": b"\xff{}\n"}),
            case("distill", "packed-missing", t, "{tmp}/nothing",
                 files=bad_yaml("sft_data: {files: [{tmp}/in.jsonl], max_len: 64}", "data: {path: {tmp}/nothing}")),
            case("distill", "seq-len-past-teacher-context", t + " train.seq_len=100000", "max_position_embeddings",
                 files=bad_yaml("sft_data: {files: [{tmp}/in.jsonl], max_len: 64}", "data: {path: {packed}}"))]


CASES: list[Case] = _distill_cases()
