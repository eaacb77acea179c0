"""Readers for the official local multiple-choice formats: C-Eval, CMMLU, MMLU, AGIEval, jsonl."""

from __future__ import annotations

import csv
from pathlib import Path

from lmforge.errors import UserError
from lmforge.eval.task import LETTERS, MCItem, MCTask, register
from lmforge.text import has_cjk
from lmforge.text import read_jsonl as read_records


def _item(question: str, choices: list[str], answer: str | int, subject: str, where: str) -> MCItem:
    if isinstance(answer, str):
        key = answer.strip().strip("()").upper()
        if key in LETTERS[:len(choices)]:
            idx = LETTERS.index(key)
        elif answer in choices:
            idx = choices.index(answer)
        else:
            raise UserError(f"{where}: answer {answer!r} is not one of the choices "
                            f"{LETTERS[:len(choices)]}")
    else:
        idx = int(answer)
        if not 0 <= idx < len(choices):
            raise UserError(f"{where}: answer index {idx} out of range for {len(choices)} choices")
    return MCItem(question, choices, idx, subject, where)


def read_csv(path: Path, subject: str, header: list[str] | None) -> list[MCItem]:
    """Rows `question, A.., answer` (first column dropped when the header names an id/index)."""
    items = []
    with path.open(encoding="utf-8-sig", newline="") as f:
        rows = csv.reader(f)
        if header is None:
            cols = next(rows, None)
            if cols is None:
                return []
            lower = [c.strip().lower() for c in cols]
            missing = [c for c in ("question", "answer") if c not in lower]
            if missing:
                raise UserError(f"{path}:1: no {missing[0]!r} column in header {cols}")
            q = lower.index("question")
            letters = [i for i, c in enumerate(lower) if len(c) == 1 and c.upper() in LETTERS]
            a = lower.index("answer")
            width, line0 = len(cols), 2
        else:
            q, letters, a, width, line0 = 0, [1, 2, 3, 4], 5, 6, 1
        for n, row in enumerate(rows, line0):
            if not row:
                continue
            if len(row) < width:
                raise UserError(f"{path}:{n}: {len(row)} fields, expected {width}")
            items.append(_item(row[q], [row[i] for i in letters], row[a], subject,
                               f"{path}:{n}"))
    return items


def _subject(path: Path, split: str) -> str:
    stem = path.stem
    return stem[: -len(split) - 1] if stem.endswith("_" + split) else stem


def _split_dir(root: Path, split: str, header: list[str] | None) -> dict[str, list[MCItem]]:
    folder = root / split
    if not folder.is_dir():
        return {}
    out = {}
    for path in sorted(folder.glob("*.csv")):
        out[_subject(path, split)] = read_csv(path, _subject(path, split), header)
    return out


def _csv_task(name: str, root: Path, split: str, header: list[str] | None, chinese: bool,
              description) -> MCTask:
    by_subject = _split_dir(root, split, header)
    if not by_subject:
        raise UserError(f"{root / split}: no *.csv files for task {name!r}")
    empty = [s for s, xs in by_subject.items() if not xs]
    if empty:
        raise UserError(f"{root / split}: no questions for subject(s) {empty} (empty or header-only CSV)")
    items = [x for xs in by_subject.values() for x in xs]
    return MCTask(name, items, _split_dir(root, "dev", header), chinese, description)


@register("ceval")
def ceval(root: Path) -> MCTask:
    """C-Eval: `{dev,val,test}/{subject}_{split}.csv` with `id,question,A,B,C,D,answer,explanation`;
    the public test split has no answers, so val is scored."""
    return _csv_task("ceval", root, "val", None, True,
                     lambda s: f"以下是中国关于{s.replace('_', ' ')}考试的单项选择题，请选出其中的正确答案。\n\n")


@register("cmmlu")
def cmmlu(root: Path) -> MCTask:
    """CMMLU: `{dev,test}/{subject}.csv` with `,Question,A,B,C,D,Answer`."""
    return _csv_task("cmmlu", root, "test", None, True,
                     lambda s: f"以下是关于{s.replace('_', ' ')}的单项选择题，请直接给出正确答案的选项。\n\n")


@register("mmlu")
def mmlu(root: Path) -> MCTask:
    """MMLU (Hendrycks CSV, no header): `{dev,test}/{subject}_{split}.csv`."""
    return _csv_task("mmlu", root, "test", [], False,
                     lambda s: f"The following are multiple choice questions (with answers) "
                               f"about {s.replace('_', ' ')}.\n\n")


def read_jsonl(path: Path) -> list[dict]:
    """Records of a task file, each with its `file:line` as `_where`; a malformed line is a
    UserError naming file:line (lmforge.text.read_jsonl, strict)."""
    return read_records(path, where_key="_where")


def _jsonl_files(root: Path) -> list[Path]:
    files = [root] if root.is_file() else sorted(root.glob("*.jsonl"))
    if not files:
        raise UserError(f"{root}: no .jsonl files")
    return files


@register("jsonl")
def generic(root: Path) -> MCTask:
    """Generic jsonl `{"question", "choices": [...], "answer": letter|index|text, "subject"?}`."""
    items = []
    for path in _jsonl_files(root):
        for r in read_jsonl(path):
            for key in ("question", "choices", "answer"):
                if key not in r:
                    raise UserError(f"{r['_where']}: missing key {key!r}")
            items.append(_item(r["question"], list(r["choices"]), r["answer"],
                               r.get("subject", path.stem), r["_where"]))
    return MCTask("jsonl", items, chinese=False)


@register("agieval")
def agieval(root: Path) -> MCTask:
    """AGIEval jsonl `{"passage", "question", "options": ["(A)..", ..], "label": "A"}`."""
    items = []
    for path in _jsonl_files(root):
        for r in read_jsonl(path):
            if "label" not in r or "options" not in r:
                raise UserError(f"{r['_where']}: missing key 'label' or 'options'")
            opts = [o.split(")", 1)[1].strip() if o.startswith("(") and ")" in o else o
                    for o in r["options"]]
            label = r["label"][0] if isinstance(r["label"], list) else r["label"]
            text = ((r.get("passage") or "") + "\n" + r["question"]).strip()
            items.append(_item(text, opts, label, path.stem, r["_where"]))
    chinese = any(has_cjk(x.question) for x in items[:20])
    return MCTask("agieval", items, chinese=chinese)


def split_choices(text: str) -> tuple[str, list[str]]:
    """'stem\\nA. ..\\nB. ..' -> (stem, choices); choices may span lines, so cut from the last
    letter backwards."""
    end, choices = len(text), []
    for letter in reversed(LETTERS[:4]):
        at = text.rfind(f"\n{letter}. ", 0, end)
        if at < 0:
            return text, []
        choices.insert(0, text[at + 4:end].strip())
        end = at
    return text[:end], choices


@register("evals-mc")
def openai_evals(root: Path) -> MCTask:
    """OpenAI `evals` MC jsonl: `{"question": "stem\\nA. ..\\nD. ..\\nAnswer:", "answer": "D"}`
    (e.g. the 1,000 MMLU questions in evals/registry/data/sandbagging/samples-all-large.jsonl)."""
    items = []
    for path in _jsonl_files(root):
        for r in read_jsonl(path):
            stem, choices = split_choices(
                r.get("question", "").rstrip().removesuffix("Answer:").rstrip())
            if not choices or "answer" not in r:
                raise UserError(f"{r['_where']}: expected 'question' ending in lettered choice "
                                "lines and an 'answer' key")
            items.append(_item(stem, choices, r["answer"], path.stem, r["_where"]))
    return MCTask("evals-mc", items, chinese=False)
