import pytest

from lmforge.eval.tasks.gsm8k import extract_choice, extract_flexible, extract_strict, truncate


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
