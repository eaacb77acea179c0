"""Task base, item types and the registry: a new benchmark family is one small file in tasks/
(`lmforge.eval.tasks.load_task` reads one)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

LETTERS = "ABCDEFGHIJ"


@dataclass
class MCItem:
    """One multiple-choice question; `where` is 'file:line' for error messages."""
    question: str
    choices: list[str]
    answer: int
    subject: str = ""
    where: str = ""


@dataclass
class MCTask:
    """A multiple-choice benchmark read from local files: eval items and few-shot items by subject."""
    name: str
    items: list[MCItem]
    dev: dict[str, list[MCItem]] = field(default_factory=dict)
    chinese: bool = False
    description: Callable[[str], str] | None = None  # subject -> instruction line

    def prompt(self, item: MCItem, shots: int = 0) -> str:
        head = self.description(item.subject) if self.description else ""
        examples = [format_question(x, self.chinese) + " " + LETTERS[x.answer]
                    for x in self.dev.get(item.subject, [])[:shots]]
        return head + "".join(e + "\n\n" for e in examples) + format_question(item, self.chinese)


def format_question(item: MCItem, chinese: bool) -> str:
    """`{question}\\nA. ..\\nB. ..\\n答案：` (lm-eval's C-Eval/CMMLU/MMLU template)."""
    lines = [item.question.strip()] + [f"{LETTERS[i]}. {c}" for i, c in enumerate(item.choices)]
    return "\n".join(lines) + ("\n答案：" if chinese else "\nAnswer:")


Loader = Callable[[Path], MCTask]
REGISTRY: dict[str, Loader] = {}


def register(name: str) -> Callable[[Loader], Loader]:
    def deco(fn: Loader) -> Loader:
        REGISTRY[name] = fn
        return fn
    return deco
