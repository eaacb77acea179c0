import json

import pytest
import torch

from lmforge.eval.multiple_choice import MCEvalConfig, run_mc_eval
from lmforge.eval.runner import loglikelihood
from lmforge.eval.tasks import load_task
from lmforge.model import load_model
from lmforge.tokenizer.core import Tokenizer


def test_ceval_reader(ceval_dir):
    task = load_task("ceval", ceval_dir)
    assert len(task.items) == 24 and set(task.dev) == {"computer_network", "law"}
    prompt = task.prompt(task.items[0], shots=2)
    assert prompt.startswith("以下是中国关于computer network考试") and prompt.endswith("\n答案：")
    assert prompt.count("答案：") == 3


def test_loglikelihood_matches_transformers(model_dir):
    from transformers import AutoModelForCausalLM, AutoTokenizer
    tok = Tokenizer.from_dir(model_dir)
    ours = loglikelihood(load_model(model_dir).eval(), tok,
                         [("1 + 1 = ？\n答案：", " A"), ("北京是", " 中国的首都"), ("x", " y z")],
                         batch_size=2, progress=False)
    hf = AutoModelForCausalLM.from_pretrained(model_dir).eval()
    htok = AutoTokenizer.from_pretrained(model_dir)
    for (ctx, cont), (score, _) in zip([("1 + 1 = ？\n答案：", " A"), ("北京是", " 中国的首都"),
                                        ("x", " y z")], ours):
        c = htok(ctx, add_special_tokens=False).input_ids
        w = htok(ctx + cont, add_special_tokens=False).input_ids
        with torch.no_grad():
            lp = torch.log_softmax(hf(torch.tensor([w])).logits[0].float(), -1)
        ref = sum(lp[i - 1, w[i]].item() for i in range(len(c), len(w)))
        assert abs(score - ref) < 1e-4


def test_evaluate_writes_results(model_dir, ceval_dir, tmp_path):
    cfg = MCEvalConfig(model=str(model_dir), tasks={"ceval": str(ceval_dir)}, shots=1, out=str(tmp_path / "r"),
                       progress=False)
    r = run_mc_eval(cfg).results["ceval"]
    assert r["n"] == 24 and 0 <= r["acc"] <= 1 and set(r["subjects"]) == {"computer_network", "law"}
    assert json.loads((tmp_path / "r" / "results.json").read_text())["results"]["ceval"]["n"] == 24
    assert "| ceval | 24 | 1 |" in (tmp_path / "r" / "results.md").read_text()
    cats = r["categories"]
    assert set(cats) == {"STEM", "Humanities"}  # computer_network, law (C-Eval's mapping)
    assert cats["STEM"]["n"] == 12 and cats["STEM"]["acc"] == r["subjects"]["computer_network"]["acc"]
    assert cats["Humanities"]["acc_macro"] == r["subjects"]["law"]["acc"]
    weighted = sum(c["acc"] * c["n"] for c in cats.values()) / 24
    assert abs(weighted - r["acc"]) < 1e-12
    assert "| ceval / Humanities | 12 | 1 |" in (tmp_path / "r" / "results.md").read_text()


def test_category_tables_cover_every_subject():
    from lmforge.eval.categories import CATEGORIES, SUBJECT_CATEGORY, category
    assert {k: len(v) for k, v in SUBJECT_CATEGORY.items()} == {"mmlu": 57, "ceval": 52, "cmmlu": 67}
    assert all(set(v.values()) == set(CATEGORIES) for v in SUBJECT_CATEGORY.values())
    assert category("mmlu", "college_physics") == "STEM" and category("cmmlu", "arts") == "Humanities"
    assert category("jsonl", "anything") == "uncategorised"


@pytest.mark.parametrize("header,row,msg", [
    ("id,question,A,B,C,D,explanation", "0,q,a,b,c,d,x", ":1: no 'answer' column"),
    ("id,question,A,B,C,D,answer,explanation", "0,q,a,b,c,d,E,x", ":2: answer 'E' is not one"),
    ("id,question,A,B,C,D,answer,explanation", "0,q,a,b", ":2: 4 fields, expected 8"),
])
def test_bad_csv(tmp_path, header, row, msg):
    (tmp_path / "val").mkdir()
    (tmp_path / "val" / "law_val.csv").write_text(f"{header}\n{row}\n", encoding="utf-8")
    with pytest.raises(ValueError, match=msg) as e:
        load_task("ceval", tmp_path)
    assert "law_val.csv" in str(e.value)


def test_cmmlu_mmlu_jsonl(tmp_path):
    (tmp_path / "c" / "test").mkdir(parents=True)
    (tmp_path / "c" / "test" / "arts.csv").write_text(",Question,A,B,C,D,Answer\n0,问,甲,乙,丙,丁,C\n")
    assert load_task("cmmlu", tmp_path / "c").items[0].answer == 2
    (tmp_path / "m" / "test").mkdir(parents=True)
    (tmp_path / "m" / "test" / "anatomy_test.csv").write_text("What?,a,b,c,d,B\n")
    t = load_task("mmlu", tmp_path / "m")
    assert t.items[0].answer == 1 and t.items[0].subject == "anatomy"
    (tmp_path / "j.jsonl").write_text('{"question": "q", "choices": ["x", "y"], "answer": "y"}\n'
                                      '{"question": "q", "choices": ["x", "y"]}\n')
    with pytest.raises(ValueError, match=r"j.jsonl:2: missing key 'answer'"):
        load_task("jsonl", tmp_path / "j.jsonl")
