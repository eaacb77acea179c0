import pytest

from lmforge.sft.tools import ExamRecordError, detect_lang, exam_to_samples, record_lang, self_cognition


def test_exam_cot_and_non_cot():
    rec = {"q_type": "单选题", "q_main": "1+1等于几？", "option_a": "1", "option_b": "2",
           "std_ans": "B", "answer_detail": "一加一等于二，故选B。"}
    s = exam_to_samples(rec)
    assert s["non_cot"]["response"].startswith("答案为B。")
    assert s["cot"]["response"] == "一加一等于二\n答案为B"
    with pytest.raises(ExamRecordError, match=r"option_a..option_e, std_ans missing or empty .*fields: q_main\)"):
        exam_to_samples({"q_main": "x"})


def test_lang_and_self_cognition():
    assert detect_lang("今天天气很好") == "zh" and detect_lang("hello world") == "en"
    assert record_lang({"lang": "ZH", "text": "hi"}) == "zh"
    recs = self_cognition("Forge", "lmforge", count=10)
    assert all("Forge" in r["response"] and "lmforge" in r["response"] for r in recs)
    assert {r["lang"] for r in recs} == {"zh", "en"}
