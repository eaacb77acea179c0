"""Quality filters (lmforge/data/filters.py): each removes a planted document and keeps real text
that installed packages ship (People's Daily, the Analects, HSK sentences' English)."""

import pickle
import random
from itertools import islice

import pytest

from lmforge.data import filters as F
from lmforge.data.clean import FILTERS, REWRITES, Cleaner
from lmforge.data.corpus import classics, hsk_pairs, news_documents
from lmforge.errors import UserError


@pytest.fixture(scope="module")
def real():
    """One modern Chinese news document, one classical chapter, one English prose document."""
    news = next(islice(news_documents(), 2, None))
    analects = next(classics())
    english = "\n".join(" ".join(p["en"] for p in hsk_pairs()[i:i + 3]) for i in range(3000, 3036, 3))
    return {"news": news, "analects": analects, "english": english}


MENU = "\n".join(["Home", "About us", "Products", "Contact", "Login", "Sign up", "Cart", "Help"] * 3)
MENU_ZH = "\n".join(["首页", "关于我们", "产品中心", "新闻动态", "联系我们", "登录", "注册", "购物车"] * 3)


def test_every_filter_keeps_the_real_documents(real):
    for name, fn in F.FILTERS.items():
        if name == "sensitive_words":
            continue
        for which, text in real.items():
            assert fn(text), f"{name} dropped the real {which} document"


def test_gopher_quality_removes_spam_bullets_and_short_text(real):
    spam = " ".join(["cheap", "shoes", "discount", "sale", "online", "store", "best", "price"] * 10)
    assert not F.gopher_quality(spam)  # no stop words
    bullets = "\n".join("• 特价商品" + str(i) + "号，欢迎选购，全场包邮！" for i in range(40))
    assert not F.gopher_quality(bullets)  # bullet lines
    assert not F.gopher_quality(real["english"][:120])  # under 50 words
    hashes = real["english"] + " #tag" * 40
    assert not F.gopher_quality(hashes)  # '#' per word


def test_gopher_repetition_removes_repeated_paragraphs_and_ngrams(real):
    para = real["news"].split("\n")[0]
    assert not F.gopher_repetition("\n\n".join([para] * 4))
    assert not F.gopher_repetition("\n\n".join([real["english"].split("\n")[0]] * 4))
    # one long repeated phrase inside otherwise distinct text (no duplicate lines)
    phrase = "欢迎访问本站，点击这里立即领取免费大礼包"
    spam = "".join(f"第{i}条：{phrase}。" for i in range(30))
    assert not F.gopher_repetition(spam)


def test_repeated_ngram_characters_match_a_plain_python_count():
    rng = random.Random(0)
    for _ in range(30):
        ws = [rng.choice("甲乙丙丁戊") + rng.choice(["", "x"]) for _ in range(rng.randint(0, 80))]
        for n in (2, 5):
            covered, seen = set(), set()
            for i in range(len(ws) - n + 1):
                if tuple(ws[i:i + n]) in seen:
                    covered.update(range(i, i + n))
                seen.add(tuple(ws[i:i + n]))
            expected = sum(len(ws[i]) for i in covered)
            assert F._Grams(ws).repeated_chars(n) == expected


def test_c4_lines_drop_boilerplate_and_c4_quality_drops_code_and_menus(real):
    page = ("Please enable JavaScript to view this page.\nHome\nThis site uses cookies to improve your visit.\n"
            + real["english"] + "\n首页 | 新闻 | 联系我们\n" + real["news"])
    kept = F.c4_lines(page)
    assert "JavaScript" not in kept and "cookies" not in kept and "首页" not in kept and "\nHome\n" not in kept
    sentence = next(x for x in real["news"].split("\n") if x.endswith("。"))
    title = next(x for x in real["news"].split("\n") if not x.endswith(F.C4_END))
    assert real["english"].split("\n")[0] in kept and sentence in kept and title not in kept
    assert not F.c4_quality(real["english"] + "\nint main() { return 0; }")
    assert not F.c4_quality("Lorem ipsum dolor sit amet.\n" + real["english"])
    assert not F.c4_quality(MENU) and not F.c4_quality(MENU_ZH)
    assert "c4_lines" in REWRITES and "c4_quality" in FILTERS


def test_fineweb_quality_removes_menus_and_duplicated_lines(real):
    assert not F.fineweb_quality(MENU) and not F.fineweb_quality(MENU_ZH)
    lines = real["news"].split("\n")
    assert not F.fineweb_quality("\n".join(lines + lines[:2]))  # duplicated lines' characters > 1%


def test_char_repetition_removes_repeated_characters(real):
    assert not F.char_repetition("哈哈哈哈哈哈" * 50 + real["news"][:200])
    # a text repeating a 9-character unit has 9 distinct 10-grams; the top 3 (sqrt 9) cover 1/3
    periodic = "点击下载最新版本！" * 40
    assert F.char_repetition(periodic) and not F.char_repetition(periodic, max_ratio=0.3)


def test_punctuation_ratio_removes_debris_and_keyword_lists(real):
    assert not F.punctuation_ratio("！？……【】" * 20 + real["news"][:100])
    keywords = " ".join(["北京", "上海", "旅游", "酒店", "机票", "特价", "优惠", "预订"] * 20)
    assert not F.punctuation_ratio(keywords)  # no punctuation at all
    assert F.punctuation_ratio("!?!?" * 100)  # not Chinese: only_zh leaves it to other filters
    assert not F.punctuation_ratio("a!?!?" * 100, only_zh=False)


def test_sensitive_words_from_a_user_file(tmp_path, real):
    words = tmp_path / "words.txt"
    words.write_text("# one word or phrase a line\n赌博\nCasino\nass\n\n", encoding="utf-8")
    assert not F.sensitive_words(real["news"] + "网上赌博", str(words))
    assert not F.sensitive_words("Visit our CASINO tonight.", str(words))
    assert F.sensitive_words("The class passed the test.", str(words))  # whole words only for Latin
    assert F.sensitive_words(real["news"], str(words)) and F.sensitive_words(real["english"], str(words))
    assert F.sensitive_words("赌博一次", str(words), max_hits=1) and not F.sensitive_words("赌博赌博", str(words), max_hits=1)
    (tmp_path / "empty.txt").write_text("# nothing\n", encoding="utf-8")
    with pytest.raises(UserError, match="empty.txt: the sensitive-word list is empty"):
        F.sensitive_words("x", str(tmp_path / "empty.txt"))
    with pytest.raises(UserError, match="missing.txt: cannot read"):
        F.sensitive_words("x", str(tmp_path / "missing.txt"))


def test_overrides_for_both_languages_or_one_and_unknown_keys(real):
    assert F.gopher_quality(real["news"], en={"min_words": 10 ** 6})  # an English override
    assert not F.gopher_quality(real["news"], zh={"min_words": 10 ** 6})
    assert not F.gopher_quality(real["english"], min_words=10 ** 6)  # both languages
    assert F.gopher_quality(real["news"], min_words=10 ** 6, zh={"min_words": 50})  # zh: wins for zh
    with pytest.raises(UserError, match=r"gopher_quality: unknown key.*'min_wrods'.*known: en, zh, min_words"):
        F.gopher_quality(real["news"], zh={"min_wrods": 5})
    with pytest.raises(UserError, match=r"fineweb_quality: unknown key.*'max_ratio'"):
        Cleaner(steps=[{"fineweb_quality": {"max_ratio": 0.5}}])(real["english"])


def test_filters_are_picklable_steps_counted_with_samples(real):
    for fn in list(F.FILTERS.values()) + list(F.REWRITES.values()):
        assert pickle.loads(pickle.dumps(fn)) is fn
    spam = "\n\n".join([real["news"].split("\n")[0]] * 4)
    cleaner = Cleaner(steps=[{"c4_lines": {}}, {"gopher_repetition": {}}, {"fineweb_quality": {}}])
    kept = [cleaner(t) for t in (real["news"], spam, MENU)]
    assert kept[0] and kept[1] is None and kept[2] is None
    rep, fw = cleaner.stats["gopher_repetition"], cleaner.stats["fineweb_quality"]
    assert (rep.docs_in, rep.docs_out, fw.docs_in, fw.docs_out) == (3, 2, 2, 1)
    assert rep.samples == [F.c4_lines(spam)[:300]] and fw.samples == [""]  # the menu had no C4 line


def test_the_clean_report_counts_each_filters_removals_with_samples(tmp_path, real):
    from lmforge.data.ops import CleanOptions, clean_sources

    spam = "\n\n".join([real["english"].split("\n")[0]] * 4)
    docs = {"web": [real["news"], real["english"], spam, MENU_ZH]}
    opts = CleanOptions(steps=[{"gopher_repetition": {}}, {"fineweb_quality": {}}], dedup=False)
    report = clean_sources(docs, tmp_path / "out", opts).report
    steps = report["steps"]["web"]
    assert steps["gopher_repetition"]["docs_in"] - steps["gopher_repetition"]["docs_out"] == 2  # spam, menu
    assert steps["gopher_repetition"]["samples"] == [spam, MENU_ZH[:300]]
    assert steps["fineweb_quality"]["docs_in"] == steps["fineweb_quality"]["docs_out"] == 2
    assert report["sources"]["web"]["docs_out"] == 2
