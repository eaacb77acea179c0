"""Translation zh<->en: prompt, greedy generation with the model, BLEU and chrF by sacrebleu, and
the `lmforge eval translation` operation."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal, Sequence

import numpy as np
from pydantic import Field, field_validator
from sacrebleu.metrics import BLEU, CHRF

from lmforge.errors import UserError
from lmforge.eval.operation import (EvalResult, EvalSettings, ModelFolder, check_out, ci_text, finish,
                                    load_model_for, markdown, must_exist)
from lmforge.eval.tasks.gsm8k import truncate
from lmforge.eval.tasks.mc import read_jsonl
from lmforge.model.generate import SamplingParams, generate
from lmforge.model.loader import Loaded
from lmforge.model.transformer import CausalLM
from lmforge.stats import bootstrap
from lmforge.tokenizer.core import Tokenizer

PROMPTS = {"zh-en": "Translate the following Chinese text into English.\nChinese: {src}\nEnglish:",
           "en-zh": "将下面的英文翻译成中文。\n英文：{src}\n中文："}


def score(hypotheses: Sequence[str], references: Sequence[str], target: str, rounds: int = 1000,
          seed: int = 0) -> dict[str, Any]:
    """Corpus BLEU (tokenize='zh' for Chinese targets) and chrF, each with its 95% interval: a
    percentile bootstrap over sentences (each sentence's n-gram statistics kept, the corpus score
    recomputed from a resample's sums, as sacrebleu's own `n_bootstrap` does; it reports mean +-
    half the percentile range instead)."""
    out: dict[str, Any] = {}
    metrics = {"bleu": BLEU(tokenize="zh" if target == "zh" else "13a"), "chrf": CHRF()}
    for name, metric in metrics.items():
        out[name], out[f"{name}_ci95"] = corpus_score_ci(metric, hypotheses, references, rounds, seed)
    return out


def corpus_score_ci(metric, hypotheses: Sequence[str], references: Sequence[str], rounds: int = 1000,
                    seed: int = 0) -> tuple[float, list[float]]:
    """A sacrebleu metric's corpus score and its percentile bootstrap 95% interval over sentences."""
    stats = np.array(metric._extract_corpus_statistics(list(hypotheses), [list(references)]), dtype=np.float64)

    def corpus(rows: np.ndarray) -> float:
        return metric._compute_score_from_stats(stats[rows].sum(0)).score

    return corpus(np.arange(len(stats))), list(bootstrap(len(stats), corpus, rounds, seed))


def evaluate_translation(model: CausalLM, tok: Tokenizer, pairs: Sequence[tuple[str, str]],
                         direction: str = "zh-en", max_new_tokens: int = 64) -> dict[str, Any]:
    """Greedy translations of (source, reference) pairs, cut at the first newline."""
    if direction not in PROMPTS:
        raise UserError(f"translation direction {direction!r}; use one of {list(PROMPTS)}")
    prompts = [tok.encode(PROMPTS[direction].format(src=s)) for s, _ in pairs]
    outs = generate(model, prompts, SamplingParams(max_new_tokens=max_new_tokens,
                                                   stop_token_ids=[tok.eos_id]), pad_id=tok.pad_id)
    hyps = [truncate(tok.decode(o), ["\n"]).strip() for o in outs]
    return {**score(hyps, [r for _, r in pairs], direction.split("-")[1]), "n": len(pairs)}


class TranslationConfig(EvalSettings, ModelFolder):
    """`lmforge eval translation`: greedy translations of jsonl records {zh, en}, BLEU and chrF."""

    data: str = Field(description="jsonl records with 'zh' and 'en' keys")
    direction: Literal["zh-en", "en-zh"] = Field("zh-en", description="source-target language")
    max_new_tokens: int = Field(256, gt=0, description="tokens per translation")

    _exist = field_validator("data")(must_exist)


def read_pairs(path: str, direction: str) -> list[tuple[str, str]]:
    """(source, reference) pairs; a record without both keys is an error naming file:line."""
    src, tgt = direction.split("-")
    rows = read_jsonl(Path(path))
    if not rows:
        raise UserError(f"{path}: no translation records (empty file)")
    for r in rows:
        if src not in r or tgt not in r:
            raise UserError(f"{r['_where']}: needs keys {src!r} and {tgt!r}")
    return [(r[src], r[tgt]) for r in rows]


def run_translation(cfg: TranslationConfig, loaded: Loaded | None = None) -> EvalResult:
    """bleu, chrf (each with its `_ci95`) and n under `results["translation <direction>"]`."""
    check_out(cfg)
    pairs = read_pairs(cfg.data, cfg.direction)[:cfg.limit]
    lm = load_model_for(cfg, cfg.model, loaded)
    name = f"translation {cfg.direction}"
    r = evaluate_translation(lm.model, lm.tokenizer, pairs, cfg.direction, cfg.max_new_tokens)
    report = markdown(["task", "n", "BLEU", "BLEU 95% CI", "chrF", "chrF 95% CI"],
                      [[name, r["n"], r["bleu"], ci_text(r["bleu_ci95"], 2), r["chrf"], ci_text(r["chrf_ci95"], 2)]])
    report += ("\n95% CI: percentile bootstrap over the n sentences (1000 resamples, the corpus score "
               "recomputed on each). No chance level.\n")
    return finish(cfg, "translation", {name: r}, report)
