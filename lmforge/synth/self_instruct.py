"""Self-instruct (Wang et al. 2022; Alpaca): grow an instruction set from a few seed tasks.

Each request shows a teacher model a few seed and generated tasks and asks for new ones; new
instructions pass when they are not too similar to any kept one (ROUGE-L), have a sensible
length, avoid tasks a text model cannot do (images, files, audio...), and carry an output.
The output file is alpaca jsonl (`instruction`, `input`, `output`), appended as records pass,
so a killed run resumes where it stopped without duplicates.
"""

from __future__ import annotations

import json
import random
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Literal

from rouge_score import rouge_scorer
from tqdm import tqdm

from lmforge.client import ChatClient
from lmforge.text import CJK, CJK_CLASS, DataError, length_units, read_jsonl

Lang = Literal["en", "zh"]

BLACKLIST = {
    "en": ["image", "images", "graph", "graphs", "picture", "pictures", "file", "files", "map",
           "maps", "draw", "plot", "go to", "video", "audio", "music", "flowchart", "diagram"],
    "zh": ["图片", "图像", "照片", "画图", "绘制", "视频", "音频", "音乐", "文件", "流程图", "地图"],
}

PROMPTS = {
    "en": ("You are asked to come up with a set of diverse task instructions. Write new tasks "
           "in exactly the format of the examples: 'Instruction:', an optional 'Input:', and "
           "'Output:', tasks separated by a line '###'.\n\n"),
    "zh": ("请你想出一组多样的新任务指令。严格按照示例的格式写新任务：'指令：'、可选的'输入：'和"
           "'输出：'，任务之间用一行'###'分隔。\n\n"),
}
LABELS = {"en": ("Instruction:", "Input:", "Output:"), "zh": ("指令：", "输入：", "输出：")}

_ROUGE_TOKEN = re.compile(CJK_CLASS + "|[A-Za-z0-9]+")


class _MixedTokenizer:
    """ROUGE tokens: each CJK character alone, Latin words lower-cased."""

    def tokenize(self, text: str) -> list[str]:
        return _ROUGE_TOKEN.findall(text.lower())


@dataclass
class Filters:
    max_rouge: float = 0.7
    min_len: int = 3
    max_len: int = 150
    lang: Lang = "en"
    rejected: dict[str, int] = field(default_factory=dict)

    def reason(self, task: dict[str, str], kept: list[str], scorer) -> str | None:
        inst = task["instruction"].strip()
        n = length_units(inst)
        if n < self.min_len or n > self.max_len:
            return "length"
        words = BLACKLIST[self.lang]
        if (self.lang == "zh" and any(w in inst for w in words)) or (
                self.lang == "en" and re.search(rf"\b({'|'.join(words)})\b", inst.lower())):
            return "keyword"
        if not inst[0].isalnum() and not CJK.match(inst[0]):
            return "punctuation_start"
        if not task.get("output", "").strip():
            return "no_output"
        if self.lang == "zh" and not CJK.search(inst):
            return "language"
        if any(scorer.score(k, inst)["rougeL"].fmeasure > self.max_rouge for k in kept):
            return "similar"
        return None


def read_seed_tasks(path: str | Path) -> list[dict[str, str]]:
    """Seed tasks as jsonl: alpaca records, or the self-instruct seed format with `instances`."""
    tasks = []
    for rec in read_jsonl(path, fields={"instruction": str}):  # strict: errors name file:line
        inst = rec.get("instances", [{}])[0] if "instances" in rec else rec
        tasks.append({"instruction": rec["instruction"], "input": inst.get("input", ""),
                      "output": inst.get("output", "")})
    if not tasks:
        raise DataError(f"{path}: no seed tasks")
    return tasks


def _resume(out: Path) -> list[dict[str, str]]:
    """The tasks a killed run already wrote. A last line cut off by the kill is removed (so the
    next append starts on a line of its own); other malformed lines are counted and reported."""
    if not out.is_file():
        return []
    data = out.read_bytes()
    if data and not data.endswith(b"\n"):
        with out.open("r+b") as f:
            f.truncate(data.rfind(b"\n") + 1)
    return read_jsonl(out, strict=False, fields={"instruction": str})  # warns with the skip count


def encode_prompt(examples: list[dict[str, str]], lang: Lang) -> str:
    li, lin, lo = LABELS[lang]
    parts = []
    for t in examples:
        block = f"{li} {t['instruction']}\n"
        if t.get("input"):
            block += f"{lin} {t['input']}\n"
        parts.append(block + f"{lo} {t['output']}\n")
    return PROMPTS[lang] + "###\n".join(parts) + "###\n"


def parse_tasks(text: str, lang: Lang) -> list[dict[str, str]]:
    li, lin, lo = (re.escape(x.rstrip(":：")) for x in LABELS[lang])
    sep = r"[:：]"
    out = []
    for block in re.split(r"\n?#{3,}\n?", text):
        m = re.search(rf"{li}{sep}\s*(.*?)\s*(?:{lin}{sep}\s*(.*?)\s*)?{lo}{sep}\s*(.*)", block, re.S)
        if m:
            out.append({"instruction": m.group(1).strip(), "input": (m.group(2) or "").strip(),
                        "output": m.group(3).strip()})
    return out


def self_instruct(client: ChatClient, seed_tasks: list[dict[str, str]], n: int, out: str | Path,
                  lang: Lang = "en", filters: Filters | None = None, seed: int = 0,
                  num_examples: int = 3, max_requests: int | None = None,
                  temperature: float = 1.0, max_tokens: int = 512,
                  log: Callable[[str], None] | None = None) -> dict[str, int]:
    """Append up to `n` new tasks to `out` (counting ones already there); return counts."""
    out = Path(out)
    filters = filters or Filters(lang=lang)
    scorer = rouge_scorer.RougeScorer(["rougeL"], tokenizer=_MixedTokenizer())
    done = _resume(out)
    kept = [t["instruction"] for t in seed_tasks] + [t["instruction"] for t in done]
    rng = random.Random(seed + len(done))
    requests = 0
    limit = max_requests if max_requests is not None else 20 * max(1, n)
    bar = tqdm(total=n, initial=min(len(done), n), desc="self-instruct", unit="task")
    with out.open("a", encoding="utf-8") as f:
        while len(done) < n and requests < limit:
            pool = rng.sample(seed_tasks, min(num_examples, len(seed_tasks)))
            if done:
                pool += rng.sample(done, min(2, len(done)))
            text = client.chat([{"role": "user", "content": encode_prompt(pool, lang)}],
                               temperature=temperature, max_tokens=max_tokens, seed=rng.randrange(2**31))
            requests += 1
            for task in parse_tasks(text, lang):
                why = filters.reason(task, kept, scorer)
                if why:
                    filters.rejected[why] = filters.rejected.get(why, 0) + 1
                    continue
                f.write(json.dumps(task, ensure_ascii=False) + "\n")
                f.flush()
                done.append(task)
                kept.append(task["instruction"])
                bar.update(1)
                if len(done) >= n:
                    break
    bar.close()
    counts = {"kept": len(done), "requests": requests, **{f"rejected_{k}": v for k, v in filters.rejected.items()}}
    if log:
        log(json.dumps(counts))
    return counts
