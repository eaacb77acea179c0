import pytest

from lmforge.eval.answers import extract_choice
from lmforge.eval.tasks.gsm8k import extract_flexible, extract_strict, truncate


@pytest.mark.parametrize("text,strict,flexible", [
    ("She pays 3 * 4 = 12 dollars.\n#### 1,234", "1234", "1234"),
    ("The answer is $1,250.", None, "1250"),
    ("It drops to -7 degrees.\n#### -7", "-7", "-7"),
    ("Total: 18.", None, "18"),
    ("So 5 apples cost $2.50 each, total $12.50.", None, "12.50"),
    ("#### 42.\nextra 7", "42", "7"),
    ("no number here", None, None),
])
def test_extraction(text, strict, flexible):
    assert extract_strict(text) == strict
    assert extract_flexible(text) == flexible


def test_truncate_and_choice():
    assert truncate("12\n\nQuestion: next") == "12"
    assert extract_choice("经过分析，答案是C。") == "C"
    assert extract_choice("B选项正确，因为……") == "B"
    assert extract_choice("(D) because") == "D"
    assert extract_choice("The answer is A.") == "A"
    assert extract_choice("我不知道") is None


def test_prompt_and_scoring():
    from lmforge.eval.tasks.gsm8k import gsm8k_prompt, score_gsm8k
    from lmforge.stats import wilson

    shot = {"question": "1+1?", "answer": "1+1=2\n#### 2"}
    assert gsm8k_prompt("2+3?", [shot]) == "Question: 1+1?\nAnswer: 1+1=2\n#### 2\n\nQuestion: 2+3?\nAnswer:"
    got = score_gsm8k([" 2+3=5\n#### 5\n\nQuestion: more #### 9", " It is $1,000.", " 7"],
                      ["#### 5", "x #### 1000", "#### 8"])
    assert got == {"n": 3, "strict_match": 1 / 3, "flexible_match": 2 / 3,
                   "strict_match_ci95": list(wilson(1, 3)), "flexible_match_ci95": list(wilson(2, 3))}
    # Wilson for 1 of 3 by hand: centre (1 + z^2/2) / (3 + z^2) = 0.4269, half-width 0.3654
    assert got["strict_match_ci95"] == pytest.approx([0.0615, 0.7923], abs=1e-4)


def test_runner_and_bad_file(tmp_path, model_dir):
    import json

    from lmforge.eval.tasks.gsm8k import evaluate_gsm8k, read_gsm8k
    from lmforge.model import load_model
    from lmforge.tokenizer.core import Tokenizer

    f = tmp_path / "gsm.jsonl"
    f.write_text("".join(json.dumps({"question": f"{i}+1?", "answer": f"#### {i + 1}"}) + "\n" for i in range(3)))
    items = read_gsm8k(str(f))
    r = evaluate_gsm8k(load_model(model_dir), Tokenizer.from_dir(model_dir), items, items[:1], shots=1,
                       max_new_tokens=4)
    assert r["n"] == 3 and r["shots"] == 1 and 0 <= r["flexible_match"] <= 1
    f.write_text('{"question": "q", "answer": "#### 1"}\n{"question": "q", "answer": "no marker"}\n')
    with pytest.raises(ValueError, match=r"gsm.jsonl:2: GSM8K answer has no '#### N'"):
        read_gsm8k(str(f))
