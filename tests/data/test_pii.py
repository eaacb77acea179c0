"""PII masking (lmforge/data/pii.py): planted e-mails, phone numbers and Chinese ID numbers go;
ordinary numbers and real text stay."""

import unicodedata

from lmforge.data.clean import Cleaner
from lmforge.data.corpus import classics, news_documents
from lmforge.data.pii import mask_pii, valid_chinese_id

VALID_ID = "11010519491231002X"  # the standard's worked example: checksum X


def test_chinese_id_checksum():
    assert valid_chinese_id(VALID_ID) and valid_chinese_id(VALID_ID.lower())
    assert not valid_chinese_id("110105194912310021")  # wrong check character
    assert not valid_chinese_id("11010519491231002")  # 17 characters
    weights = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)  # GB 11643: sum mod 11 -> check
    body = "44030419900307123"
    check = "10X98765432"[sum(int(d) * w for d, w in zip(body, weights)) % 11]
    assert valid_chinese_id(body + check)


def test_masks_planted_email_phone_and_id():
    text = ("请联系zhang.san@example.com.cn或拨打13812345678，手机 139-1234-5678，+86 137 0000 1111，"
            f"座机010-62751234，(0755)23456789。身份证{VALID_ID}。Write to a.b+c@mail.co.uk, "
            "call (555) 123-4567, 555.123.4567 or +44 20 7946 0958.")
    masked = mask_pii(text)
    assert masked == ("请联系<EMAIL>或拨打<PHONE>，手机 <PHONE>，<PHONE>，座机<PHONE>，<PHONE>。身份证<ID>。"
                      "Write to <EMAIL>, call <PHONE>, <PHONE> or <PHONE>.")


def test_leaves_ordinary_numbers_alone():
    text = ("1998年GDP增长8.8%，共1,234,567元，订单号20230105123456789012，日期2023-01-05，"
            "138,000人，ISBN 978-7-111-12345-6，价格12345678901，版本3.10.12，"
            "身份证写错了110105194912310021。In 2023, 4,200 people paid $1,299.99 each; call ext. 1234.")
    assert mask_pii(text) == text


def test_placeholders_and_kinds_can_be_chosen():
    text = f"a@b.cn 13812345678 {VALID_ID}"
    assert mask_pii(text, email=None) == "a@b.cn <PHONE> <ID>"
    assert mask_pii(text, phone="[电话]", id_number=None) == f"<EMAIL> [电话] {VALID_ID}"


def test_real_text_is_unchanged_except_a_real_phone_number():
    docs = [unicodedata.normalize("NFKC", d) for d in list(news_documents()) + list(classics())]
    changed = [(d, m) for d in docs if (m := mask_pii(d)) != d]
    assert len(changed) == 1  # People's Daily, 1998: a county's hotline with its area code
    before, after = changed[0]
    assert "(0717)5401220" in before and after == before.replace("(0717)5401220", "<PHONE>")


def test_mask_pii_is_a_clean_step():
    cleaner = Cleaner(steps=[{"mask_pii": {"email": "[邮箱]"}}])
    assert cleaner("写信到 li@pku.edu.cn 。") == "写信到 [邮箱] 。"
    assert cleaner.stats["mask_pii"].docs_out == 1
