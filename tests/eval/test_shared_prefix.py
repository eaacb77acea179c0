"""Multiple-choice scoring with a shared KV-cache prefix gives the plain path's log-likelihoods."""

import pytest

from lmforge.eval.runner import loglikelihood
from lmforge.eval.task import MCItem, MCTask
from lmforge.model import load_model
from lmforge.tokenizer.core import Tokenizer

QUESTIONS = [("1 + 1 = ？", ["2", "3", "11", "一百"], 0), ("北京是中国的什么？", ["首都", "城市", "省", "A"], 0),
             ("3 * 4 = ？", ["12", "7", "34", "1"], 0), ("x", ["y", "y z w", "z", "北京是中国的首都"], 1)]


def _task(shots: int) -> MCTask:
    items = [MCItem(q, c, a, subject="math" if i % 2 else "law") for i, (q, c, a) in enumerate(QUESTIONS)]
    dev = {s: [MCItem(f"{s} example {j}: 2 + {j} = ？", ["1", "2", "3", "4"], j % 4) for j in range(3)]
           for s in ("math", "law")}
    return MCTask("t", items, dev, chinese=True, description=lambda s: f"以下是中国关于{s}考试的单项选择题。\n\n")


@pytest.mark.parametrize("shots", [0, 2])
@pytest.mark.parametrize("letters", [True, False], ids=["letters", "choice-texts"])
def test_shared_prefix_equals_plain(model_dir, shots, letters):
    """Letters (one row per question) and choice texts of different lengths (one row per
    choice); batches of 3 mix questions of different lengths and both subjects' groups."""
    model, tok, task = load_model(model_dir).eval(), Tokenizer.from_dir(model_dir), _task(shots)
    requests, groups = [], []
    for x in task.items:
        for j, choice in enumerate(x.choices):
            requests.append((task.prompt(x, shots), " " + ("ABCD"[j] if letters else choice)))
            groups.append(x.subject)
    plain = loglikelihood(model, tok, requests, batch_size=3, progress=False)
    shared = loglikelihood(model, tok, requests, batch_size=3, progress=False, groups=groups)
    one = [loglikelihood(model, tok, [r], batch_size=1, progress=False)[0] for r in requests]
    assert len({round(s, 3) for s, _ in plain}) > len(task.items)  # choices really differ
    for (a, ga), (b, gb), (c, _) in zip(plain, shared, one):
        assert abs(a - b) < 1e-5 and abs(a - c) < 1e-5 and ga == gb


def test_shared_prefix_is_used(model_dir):
    """The group's common prefix runs once: the batches see only the questions' own tokens."""
    from lmforge.eval import runner

    task, tok = _task(3), Tokenizer.from_dir(model_dir)
    requests = [(task.prompt(x, 3), " A") for x in task.items if x.subject == "law"]
    rows = runner._rows(tok, requests, ["law"] * len(requests), 512)
    prefix = runner.shared_prefix(rows)
    head = tok.encode(task.prompt(task.items[0], 3).rsplit("\n\n", 1)[0])
    assert len(head) - 2 <= prefix < min(len(r.ids) for r in rows)
