"""The bilingual core: one CJK class, one language id, CJK-aware normalization, the JSONL reader."""

from __future__ import annotations

import json
import unicodedata

import pytest

from lmforge.data.clean import Cleaner
from lmforge.errors import UserError
from lmforge.sft.tools import record_lang
from lmforge.text import (CJK, CJK_CLASS, CJK_PUNCTUATION, DataError, ReadStats, cjk_share, is_cjk,
                          language, normalize, read_json, read_jsonl)


@pytest.mark.parametrize("ch,expected", [
    ("中", True), ("㐀", True), ("䶿", True), ("鿿", True), ("豈", True),  # Unified, Ext A, compat
    ("\U00020000", True), ("\U0002a700", True), ("\U0002ceb0", True), ("\U0002f800", True),
    ("\U00030000", True),                                                 # Ext B, C, F, compat sup, G
    ("a", False), ("，", False), ("。", False), ("あ", False), ("한", False), ("⺀", False), ("ー", False),
])
def test_one_cjk_class(ch, expected):
    assert is_cjk(ch) is expected and bool(CJK.fullmatch(ch)) is expected


def test_cjk_class_works_in_the_tokenizer_regex():
    from tokenizers import Regex, pre_tokenizers

    split = pre_tokenizers.Split(Regex(CJK_CLASS), behavior="isolated").pre_tokenize_str("ab\U00020001中c")
    assert [p for p, _ in split] == ["ab", "\U00020001", "中", "c"]


@pytest.mark.parametrize("text,expected", [
    ("今天天气很好", "zh"), ("学而时习之，不亦说乎 hello", "zh"), ("hello world", "en"),
    ("Широкая электрификация южных губерний", "other"),          # Cyrillic
    ("今日はいい天気ですね。散歩に行きましょう。", "other"),          # Japanese: kanji + kana
    ("오늘 날씨가 좋네요", "other"), ("12345 !!!", "other"), ("", "other"),
    ("Café au lait, s'il vous plaît", "en"),
    ("请把这句话翻译成英文：hello world", "zh"), ("翻译: The quick brown fox jumps over the lazy dog.", "en"),
])
def test_language(text, expected):
    assert language(text) == expected


@pytest.mark.parametrize("text", [
    "今天天气很好，我们去公园散步吧。", "请问：你是谁？", "我们（在这里）！好；", "《论语》「学而」第一",
    "We said 很好！and left.",
])
def test_one_record_one_language_in_cleaner_and_sft_filter(text):
    """The same record gets the same answer from `data clean` and `sft-data filter-lang`."""
    cleaner = Cleaner(steps=[{"keep_languages": {"languages": [language(text)]}}])
    assert cleaner(text) is not None
    assert record_lang({"prompt": text, "response": ""}) == language(text)
    assert record_lang({"messages": [{"role": "user", "content": text}]}) == language(text)


def test_sft_filter_and_cleaner_agree_where_the_old_detectors_disagreed():
    # the old sft detect_lang measured Han share of all non-space characters: 'en' here, and it
    # never said 'other'; the cleaner said 'zh' and 'other'
    numbers = {"prompt": "版本号：2024.11.30-1234567890", "response": "好的"}
    assert record_lang(numbers) == "zh" == language("版本号：2024.11.30-1234567890 好的")
    text = "Python 3.12 的 asyncio.TaskGroup() 很好用: async with TaskGroup() as tg: tg.create_task(f())"
    assert cjk_share(text) < 0.3 and language(text) == "en"
    assert record_lang({"instruction": text}) == "en"
    cyrillic = {"instruction": "Переведите на английский язык", "output": "Translate into English"}
    assert record_lang(cyrillic) == language(" ".join(cyrillic.values()))


def test_normalize_keeps_chinese_punctuation_and_folds_the_rest():
    s = "今天天气很好，我们去公园散步吧。"
    assert normalize(s) == s
    assert unicodedata.normalize("NFKC", s) != s  # what the old step did: ，-> ,
    assert normalize("价格：１２３元（含税）！ＡＢＣ") == "价格：123元（含税）！ABC"
    assert normalize("ﬁne ½") == unicodedata.normalize("NFKC", "ﬁne ½")
    assert normalize(CJK_PUNCTUATION) == CJK_PUNCTUATION
    assert normalize("，", keep_cjk_punctuation=False) == ","
    assert normalize("ｶﾞ｡") == "ガ。"  # half-width kana still fold to their CJK forms


def test_default_cleaning_keeps_chinese_punctuation():
    text = "今天天气很好，我们去公园散步吧。明天呢？也许会下雨；谁知道：（天气预报）说的不一定准！"
    assert Cleaner()(text) == text


def test_read_jsonl_strict_and_counted(tmp_path, capsys):
    p = tmp_path / "s.jsonl"
    p.write_bytes(b'\xef\xbb\xbf{"a": 1}\n\n{"a": 2\n{"a": "x"}\n')
    with pytest.raises(DataError, match=r"s\.jsonl:3: invalid JSON") as e:
        read_jsonl(p)
    assert isinstance(e.value, UserError)
    assert read_jsonl(p, strict=False, where_key="_at") == [{"a": 1, "_at": f"{p}:1"}, {"a": "x", "_at": f"{p}:4"}]
    assert f"{p}: skipped 1 malformed record(s) of 3" in capsys.readouterr().err
    stats = ReadStats()
    assert read_jsonl(p, strict=False, stats=stats, fields={"a": int}) == [{"a": 1}]
    assert stats.summary() == {"records": 1, "skipped": 2,
                               "skip_reasons": {"invalid JSON": 1, "field 'a' is string": 1},
                               "first_skipped": [f"{p}:3: invalid JSON (Expecting ',' delimiter at column 8)",
                                                 f"{p}:4: field 'a' is string"]}
    assert capsys.readouterr().err == ""  # the caller holds the stats, so it reports them


def test_read_json_errors_name_file_line_and_column(tmp_path):
    p = tmp_path / "c.json"
    p.write_bytes(b"\xef\xbb\xbf" + json.dumps({"a": [1, 2]}, indent=1).encode())
    assert read_json(p, dict) == {"a": [1, 2]}
    with pytest.raises(DataError, match=r"c\.json: config must hold a JSON array, got object"):
        read_json(p, list, what="config")
    p.write_text('{\n  "a": 1,\n  "b": }\n')
    with pytest.raises(DataError, match=r"c\.json:3:8: invalid JSON"):
        read_json(p)
    p.write_text("[" * 100000)
    with pytest.raises(DataError, match="nested too deeply"):
        read_json(p)
    p.write_bytes(b'{"a": "\xff"}')
    with pytest.raises(DataError, match=r"c\.json:1: invalid UTF-8"):
        read_json(p)
    with pytest.raises(DataError, match="nope.json: JSON file not found"):
        read_json(tmp_path / "nope.json")
