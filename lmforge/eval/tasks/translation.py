"""Translation zh<->en: prompt, greedy generation with the model, BLEU and chrF by sacrebleu."""

from __future__ import annotations

from typing import Sequence

import sacrebleu

from lmforge.eval.tasks.gsm8k import truncate
from lmforge.model.generate import SamplingParams, generate
from lmforge.model.transformer import CausalLM
from lmforge.tokenizer.core import Tokenizer

PROMPTS = {"zh-en": "Translate the following Chinese text into English.\nChinese: {src}\nEnglish:",
           "en-zh": "将下面的英文翻译成中文。\n英文：{src}\n中文："}


def score(hypotheses: Sequence[str], references: Sequence[str], target: str) -> dict[str, float]:
    """Corpus BLEU (tokenize='zh' for Chinese targets) and chrF."""
    refs = [list(references)]
    bleu = sacrebleu.corpus_bleu(list(hypotheses), refs, tokenize="zh" if target == "zh" else "13a")
    return {"bleu": bleu.score, "chrf": sacrebleu.corpus_chrf(list(hypotheses), refs).score}


def evaluate_translation(model: CausalLM, tok: Tokenizer, pairs: Sequence[tuple[str, str]],
                         direction: str = "zh-en", max_new_tokens: int = 64) -> dict[str, float]:
    """Greedy translations of (source, reference) pairs, cut at the first newline."""
    if direction not in PROMPTS:
        raise ValueError(f"translation direction {direction!r}; use one of {list(PROMPTS)}")
    prompts = [tok.encode(PROMPTS[direction].format(src=s)) for s, _ in pairs]
    outs = generate(model, prompts, SamplingParams(max_new_tokens=max_new_tokens,
                                                   stop_token_ids=[tok.eos_id]), pad_id=tok.pad_id)
    hyps = [truncate(tok.decode(o), ["\n"]).strip() for o in outs]
    return {**score(hyps, [r for _, r in pairs], direction.split("-")[1]), "n": len(pairs)}
