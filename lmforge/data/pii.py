"""PII masking: e-mail addresses, phone numbers (Chinese mobile and landline numbers, international
and North American formats) and Chinese resident ID numbers (18 characters, checksum verified).

`mask_pii` is a cleaning rewrite (a pure function of the text, picklable for a process pool).
Ordinary numbers stay: a phone number needs a known shape (a Chinese mobile number's 1[3-9]
prefix and 11 digits, an area code and separators, or a leading +), and an ID number needs a
valid birth date and ISO 7064 checksum, so years, prices, order numbers and long digit runs
are left alone.
"""

from __future__ import annotations

import re

# ASCII look-arounds, not \w or \b: a Han character right before or after ("邮箱a@b.cn联系") is a boundary.
EMAIL = re.compile(r"(?<![A-Za-z0-9._%+-])[A-Za-z0-9][A-Za-z0-9._%+-]*@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*"
                   r"\.[A-Za-z]{2,}(?![A-Za-z0-9-])")
_NB, _NA = r"(?<![0-9A-Za-z])", r"(?![0-9A-Za-z])"
PHONE = re.compile(_NB + "(?:" + "|".join([
    r"(?:\+?86[ -]?)?1[3-9]\d(?:[ -]?\d{4}){2}",                   # Chinese mobile: 138 1234 5678
    r"(?:\+?86[ -]?)?(?:\(0\d{2,3}\)[ -]?|0\d{2,3}-)\d{7,8}",          # Chinese landline: 010-12345678
    r"\+\d{1,3}[ -.]?(?:\(\d{1,4}\)[ -.]?)?\d{2,4}(?:[ -.]\d{2,4}){1,3}",  # international: +44 20 7946 0958
    r"\(\d{3}\)[ -.]?\d{3}[ -.]\d{4}",                              # North American: (555) 123-4567
    r"\d{3}[-.]\d{3}[-.]\d{4}",                                     # 555-123-4567
]) + ")" + _NA, re.ASCII)
_ID_CANDIDATE = re.compile(_NB + r"[1-9]\d{5}(?:18|19|20)\d{2}(?:0[1-9]|1[0-2])(?:0[1-9]|[12]\d|3[01])\d{3}[\dXx]"
                           + _NA, re.ASCII)
_ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_ID_CHECK = "10X98765432"


def valid_chinese_id(number: str) -> bool:
    """True for an 18-character resident ID number whose last character is its checksum
    (GB 11643-1999: ISO 7064 MOD 11-2 over the first 17 digits)."""
    if len(number) != 18 or not number[:17].isdigit():
        return False
    total = sum(int(d) * w for d, w in zip(number[:17], _ID_WEIGHTS))
    return _ID_CHECK[total % 11] == number[17].upper()


def mask_pii(text: str, email: str | None = "<EMAIL>", phone: str | None = "<PHONE>",
             id_number: str | None = "<ID>") -> str:
    """Replace each e-mail address, phone number and valid Chinese ID number by its placeholder
    (None: leave that kind as it is). IDs first, so an ID's digits are never read as a phone."""
    if id_number is not None:
        text = _ID_CANDIDATE.sub(lambda m: id_number if valid_chinese_id(m.group()) else m.group(), text)
    if email is not None and "@" in text:
        text = EMAIL.sub(email, text)
    if phone is not None:
        text = PHONE.sub(phone, text)
    return text


REWRITES = {"mask_pii": mask_pii}
