"""SFT data tools: WanJuan exam records -> CoT / non-CoT samples, language filter, and a
self-cognition set from a name and an author (templates written for lmforge)."""

from __future__ import annotations

import random
import re
from typing import Any, Iterator

from lmforge.errors import UserError
from lmforge.text import language

_FINAL = re.compile(r"[，,。\s]*(故|所以)?(本题)?选[：:]?\s*[A-E]+[。.]?\s*$")


# The one language id (lmforge.text.language: 'zh', 'en' or 'other'), so `sft-data filter-lang`
# and `data clean` give one record the same answer.
detect_lang = language


def _texts(value: Any) -> Iterator[str]:
    """The strings in a record: its values, message contents, chosen/rejected (not roles)."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for k, v in value.items():
            if k not in ("role", "lang"):
                yield from _texts(v)
    elif isinstance(value, list):
        for v in value:
            yield from _texts(v)


def record_lang(rec: dict[str, Any]) -> str:
    """The record's `lang` field, else the language of all its text ('zh', 'en' or 'other'),
    including the contents of `messages` records."""
    if rec.get("lang"):
        return str(rec["lang"]).lower()
    return language(" ".join(_texts(rec)))


class ExamRecordError(UserError):
    """A record that is not a WanJuan exam record (the reader adds its file:line)."""


def exam_to_samples(rec: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """A WanJuan multiple-choice record as a non-CoT sample (answer, then explanation) and a
    CoT sample (explanation without its trailing '故选X', then '答案为X')."""
    options = [f"{k.upper()}. {rec[f'option_{k}']}" for k in "abcde" if rec.get(f"option_{k}")]
    answer = str(rec.get("std_ans") or "").strip().upper()
    has = {"q_main": isinstance(rec.get("q_main"), str) and rec["q_main"].strip(), "option_a..option_e": options,
           "std_ans": answer}
    missing = [k for k, ok in has.items() if not ok]
    if missing:
        raise ExamRecordError(f"not a WanJuan exam record: {', '.join(missing)} missing or empty "
                              f"(the record's fields: {', '.join(sorted(rec)) or 'none'})")
    question = rec["q_main"].strip() + "\n" + "\n".join(options)
    detail = str(rec.get("answer_detail") or "").strip()
    plain = f"答案为{answer}。" + (f"\n解析：{detail}" if detail else "")
    steps = _FINAL.sub("", detail).strip()
    cot = (steps + "\n" if steps else "") + f"答案为{answer}"
    return {"non_cot": {"prompt": question, "response": plain},
            "cot": {"prompt": question + "\n请逐步思考。", "response": cot}}


_QUESTIONS = {
    "zh": ["你是谁？", "你叫什么名字？", "请介绍一下你自己。", "你是哪个模型？", "谁开发了你？",
           "你的创造者是谁？", "能说说你是什么吗？", "你好，你是什么助手？"],
    "en": ["Who are you?", "What is your name?", "Please introduce yourself.", "Which model are you?",
           "Who made you?", "Who created you?", "Tell me what you are.", "Hi, what kind of assistant are you?"],
}
_ANSWERS = {
    "zh": ["我是{name}，由{author}开发的人工智能助手。", "我叫{name}，是{author}训练的语言模型，很高兴为你服务。",
           "你好！我是{name}，一个由{author}打造的中英双语助手。"],
    "en": ["I am {name}, an AI assistant developed by {author}.",
           "My name is {name}. I am a language model trained by {author}, happy to help.",
           "Hello! I'm {name}, a bilingual (Chinese and English) assistant built by {author}."],
}


def self_cognition(name: str, author: str, count: int = 100, seed: int = 0) -> list[dict[str, Any]]:
    """`count` prompt/response records about the model's identity, half zh, half en."""
    rng = random.Random(seed)
    out = []
    for i in range(count):
        lang = "zh" if i % 2 == 0 else "en"
        out.append({"prompt": rng.choice(_QUESTIONS[lang]),
                    "response": rng.choice(_ANSWERS[lang]).format(name=name, author=author), "lang": lang})
    return out
