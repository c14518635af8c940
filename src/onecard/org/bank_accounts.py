"""Checking bank account numbers before anyone is paid to them.

The rule (docs/api.md, "Bank accounts"):

- Spaces and hyphens are ignored ("6217 0000 …" as printed on a card); what is left
  must be 10–30 digits. Chinese settlement accounts (对公账户) run from 12 to 25 digits
  depending on the bank, personal card numbers 16–19.
- A number that is a UnionPay card number — 16 to 19 digits starting with ``62`` —
  carries a Luhn check digit (ISO/IEC 7812) and must pass it: one mistyped digit or two
  swapped neighbours are caught before a payout bounces.
- Other numbers (banks' corporate accounts) carry no check digit any bank publishes, so
  only their length and digits are checked.

``check(text)`` returns the number as stored (digits only) or raises ``BadAccount`` with
the problem in Chinese and English; services turn that into ``InvalidBankAccount``.
"""

from __future__ import annotations

import re

MIN_DIGITS = 10
MAX_DIGITS = 30
_SEPARATORS = re.compile(r"[\s\-]+")


class BadAccount(ValueError):
    def __init__(self, zh: str, en: str) -> None:
        super().__init__(en)
        self.zh = zh
        self.en = en


def luhn_ok(digits: str) -> bool:
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = int(ch)
        if i % 2 == 1:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


def is_card_number(digits: str) -> bool:
    """A UnionPay card number: the only kind whose check digit we can know."""
    return 16 <= len(digits) <= 19 and digits.startswith("62")


def normalise(text: str) -> str:
    """The number without the spaces and hyphens people write into it."""
    return _SEPARATORS.sub("", text or "")


def check(text: str) -> str:
    digits = normalise(text)
    if not digits.isascii() or not digits.isdigit():
        raise BadAccount("只能包含数字", "digits only")
    if not MIN_DIGITS <= len(digits) <= MAX_DIGITS:
        raise BadAccount(
            f"应为 {MIN_DIGITS}–{MAX_DIGITS} 位数字（现为 {len(digits)} 位）",
            f"{MIN_DIGITS} to {MAX_DIGITS} digits (this has {len(digits)})",
        )
    if is_card_number(digits) and not luhn_ok(digits):
        raise BadAccount(
            "银联卡号校验位不符，请核对是否有输错或颠倒的数字",
            "the card number's check digit does not match: a digit is mistyped or swapped",
        )
    return digits
