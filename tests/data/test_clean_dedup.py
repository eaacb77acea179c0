from __future__ import annotations

import gzip
import json
import random
import re
from collections import Counter

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from lmforge.data.clean import (Cleaner, collapse_whitespace, language, max_ngram_repetition, strip_html, strip_urls,
                                to_simplified)
from lmforge.data.dedup import DedupSettings, duplicate_flags
from lmforge.data.pipeline import process_sources
from lmforge.data.read import DataError, ReadStats, read_documents


def _near_copy(text: str, rng: random.Random) -> str:
    """Change ~1% of characters and add a footer: a near duplicate (Jaccard of 5-grams ~0.9)."""
    chars = list(text)
    for i in rng.sample(range(len(chars)), max(1, len(chars) // 100)):
        chars[i] = rng.choice("的了是在我abcde")
    return "".join(chars) + rng.choice(["\n转载请注明出处", "\nShare this page"])


def test_dedup_finds_planted_near_duplicates(real_docs):
    rng = random.Random(0)
    originals = [d for d in real_docs["en"] + real_docs["zh"] if len(d) > 300]  # ~270 distinct docs
    assert len(originals) > 200
    planted = [_near_copy(d, rng) for d in originals[::2][:100]]  # both languages
    exact = originals[1::2][:20]
    stream = originals + planted + exact
    is_exact, is_near = duplicate_flags(stream, DedupSettings(threshold=0.8))
    dropped = is_exact | is_near
    false_pos = int(dropped[:len(originals)].sum())
    found = int(dropped[len(originals):len(originals) + 100].sum())
    assert found >= 95 and false_pos < 0.01 * len(originals), (found, false_pos)
    assert is_exact.sum() == 20 and is_exact[-20:].all()


def test_cleaning_counts_balance_and_strip_boilerplate(tmp_path, real_docs):
    html = "<html><body><p>" + real_docs["en"][0][:400] + "</p><script>x()</script></body></html>"
    docs = [html, "短", "Visit https://spam.example.com or mail me@spam.com from 10.0.0.1 " * 3,
            real_docs["zh"][5], real_docs["zh"][5], "!!!! ???? #### $$$$ %%%% ^^^^ &&&& **** " * 5]
    report = process_sources({"mix": iter(docs)}, tmp_path)
    s = report["sources"]["mix"]
    assert s["docs_in"] == 6 == s["docs_out"] + s["dropped_by_filters"] + s["duplicates"]
    assert s["duplicates"] == 1 and s["dropped_by_filters"] >= 2
    kept = [json.loads(x)["text"] for x in (tmp_path / "mix.jsonl").read_text().splitlines()]
    assert all("<" not in t and "http" not in t and "@" not in t for t in kept)
    assert (tmp_path / "report.md").is_file() and (tmp_path / "lengths.png").stat().st_size > 0


def test_chinese_rules():
    assert to_simplified("孟子見梁惠王") == "孟子见梁惠王"
    assert language("学而时习之，不亦说乎 hello") == "zh" and language("hello world") == "en"
    assert strip_urls("看 www.example.com/a 这里") == "看  这里"
    assert strip_html("<b>你好</b>&amp;") == " 你好 &"
    c = Cleaner(steps=[{"min_length": {"min_units": 5}}])
    assert c("学而时习之") is not None and c("学而") is None  # characters count for Chinese


def test_unknown_clean_step():
    with pytest.raises(ValueError, match="unknown step 'nope'"):
        Cleaner(steps=[{"nope": {}}])


def test_readers_and_bad_input(tmp_path):
    (tmp_path / "a.jsonl").write_text('{"text": "one"}\n{bad json\n{"other": 1}\n{"text": "two"}\n')
    stats = ReadStats()
    assert list(read_documents([tmp_path / "a.jsonl"], stats=stats)) == ["one", "two"]
    assert stats.skipped == 2 and "a.jsonl:2" in stats.problems[0]
    with pytest.raises(DataError, match="a.jsonl:2: invalid JSON"):
        list(read_documents([tmp_path / "a.jsonl"], strict=True))
    (tmp_path / "b.txt").write_bytes(b"good text\xff\xfe bad")
    stats = ReadStats()
    assert list(read_documents([tmp_path / "b.txt"], stats=stats)) == [] and stats.skipped == 1
    blob = gzip.compress(b'{"text": "zipped"}\n' * 1000)
    (tmp_path / "c.jsonl.gz").write_bytes(blob[: len(blob) // 2])
    with pytest.raises(DataError, match=r"c\.jsonl\.gz:\d+: cannot read past line \d+: .*truncated"):
        list(read_documents([tmp_path / "c.jsonl.gz"]))
    pq.write_table(pa.table({"body": ["x"]}), tmp_path / "d.parquet")
    with pytest.raises(DataError, match="no column 'text'"):
        list(read_documents([tmp_path / "d.parquet"]))
    assert list(read_documents([tmp_path / "d.parquet"], text_field="body")) == ["x"]
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match="no readable data files"):
        list(read_documents([tmp_path / "empty"]))


def test_perplexity_filter_keeps_in_domain_text(tmp_path, real_docs):
    ref = tmp_path / "ref.jsonl"
    ref.write_text("\n".join(json.dumps({"text": d}) for d in real_docs["en"][:40]))
    cleaner = Cleaner(steps=[{"max_perplexity": {"reference": str(ref), "max_ppl": 30}}])
    held_out = real_docs["en"][40:50]
    assert all(cleaner(d) is not None for d in held_out)
    rng = random.Random(0)
    gibberish = "".join(rng.choice("qxzjkvw#@%&$") for _ in range(2000))
    assert cleaner(gibberish) is None
    assert cleaner.stats["max_perplexity"].docs_in == 11 and cleaner.stats["max_perplexity"].docs_out == 10


def test_each_filter_counts_its_planted_removal(tmp_path, real_docs):
    zh, en = real_docs["zh"][10][:400], real_docs["en"][3][:800]
    planted = {
        "min_length": "只有几个字",
        "max_symbol_ratio": en[:200] + " ★☆■□▲△◆◇●○" * 40,
        "max_line_repetition": "\n".join([zh[:80]] + ["首页 | 新闻 | 联系我们 | 登录"] * 8 + [zh[80:160]]),
        "max_ngram_repetition": en[:300] + " Click here to subscribe to our channel now!" * 40,
        "keep_languages": ("Съешь же ещё этих мягких французских булок, да выпей чаю. В чащах юга "
                           "жил бы цитрус? Да, но фальшивый экземпляр! Широкая электрификация южных "
                           "губерний даст мощный толчок подъёму сельского хозяйства."),
    }
    good = [zh, en, real_docs["zh"][11][:400]]
    report = process_sources({"web": iter(good + list(planted.values()))}, tmp_path)
    steps, s = report["steps"]["web"], report["sources"]["web"]
    removed = {k: v["docs_in"] - v["docs_out"] for k, v in steps.items() if v["docs_in"] != v["docs_out"]}
    assert removed == {k: 1 for k in planted}
    names = list(steps)
    for a, b in zip(names, names[1:]):  # every step sees exactly what the previous one passed on
        assert steps[a]["docs_out"] == steps[b]["docs_in"] and steps[a]["chars_out"] == steps[b]["chars_in"]
    assert s["docs_out"] == len(good) and s["dropped_by_filters"] == sum(removed.values())
    assert s["chars_out"] == steps[names[-1]]["chars_out"]
    md = (tmp_path / "report.md").read_text()
    assert all(f"| {k}" in md for k in planted)


def test_language_id_has_an_other_class():
    assert language("Широкая электрификация южных губерний") == "other"
    assert language("12345 !!!") == "other" and language("Café au lait, s'il vous plaît") == "en"
    assert Cleaner(steps=[{"keep_languages": {}}])("Широкая электрификация южных губерний") is None


def _ngram_repetition_by_counter(text: str, n: int, max_share: float) -> bool:
    compact = re.sub(r"\s+", "", text)
    if len(compact) < 2 * n:
        return True
    count = Counter(compact[i:i + n] for i in range(len(compact) - n + 1)).most_common(1)[0][1]
    return count * n / len(compact) <= max_share if count > 1 else True


def test_vectorised_ngram_repetition_equals_counting_ngrams(real_docs):
    rng = random.Random(0)
    docs = real_docs["zh"][:100] + real_docs["en"][:100]
    docs += [d[:200] + "Click here to subscribe! " * rng.randrange(1, 30) for d in docs[:100]]
    docs += ["ab" * rng.randrange(5, 400) for _ in range(50)]
    for share in (0.05, 0.2, 0.3):
        got = [max_ngram_repetition(d, 10, share) for d in docs]
        assert got == [_ngram_repetition_by_counter(d, 10, share) for d in docs]
        assert 0 < sum(got) < len(docs)  # both outcomes occur


def test_collapse_whitespace_shortcut_equals_the_regexes():
    def by_regexes(text: str) -> str:
        text = re.sub(r"[ \t]+\n", "\n", text)
        return re.sub(r"\n{3,}", "\n\n", re.sub(r"[ \t]{2,}", " ", text)).strip()

    rng = random.Random(0)
    docs = ["".join(rng.choice(" \t\nab中") for _ in range(rng.randrange(30))) for _ in range(5000)]
    assert [collapse_whitespace(d) for d in docs] == [by_regexes(d) for d in docs]
