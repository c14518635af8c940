"""Resident ID numbers (居民身份证号码, GB 11643-1999): 18 characters, the last a check
character over the first 17 digits (ISO 7064 MOD 11-2).

Contract:
- ``check_digit(first17)`` is the check character ('0'–'9' or 'X') of 17 digits.
- ``parse_id_number(text)`` returns ``(normalised, birth_date)`` for a valid number (a
  lower-case 'x' is read as 'X'), and raises ``InvalidIdNumber`` for a wrong length, a
  non-digit body, a birth date that is no date, or a check character that does not match.
  The region code (the first six digits) is not checked against a list.
"""

from __future__ import annotations

from datetime import date

from onecard.core.errors import InvalidIdNumber

# Weights 2^(17-i) mod 11 for positions 1..17, and the check character for each sum mod 11.
WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
CHECK_CHARS = "10X98765432"


def check_digit(first17: str) -> str:
    if len(first17) != 17 or not first17.isdigit() or not first17.isascii():
        raise InvalidIdNumber(problem="前 17 位须为数字", problem_en="the first 17 must be digits")
    total = sum(int(c) * w for c, w in zip(first17, WEIGHTS, strict=True))
    return CHECK_CHARS[total % 11]


def parse_id_number(text: str) -> tuple[str, date]:
    value = text.strip().upper()
    if len(value) != 18:
        raise InvalidIdNumber(problem="须为 18 位", problem_en="it must have 18 characters")
    body, last = value[:17], value[17]
    expected = check_digit(body)
    try:
        birth = date(int(body[6:10]), int(body[10:12]), int(body[12:14]))
    except ValueError as exc:
        raise InvalidIdNumber(
            problem="出生日期无效", problem_en="the birth date is not a date"
        ) from exc
    if last != expected:
        raise InvalidIdNumber(problem="校验位不符", problem_en="the check character does not match")
    return value, birth


def age_on(birth: date, day: date) -> int:
    """Full years of age on ``day`` (a birthday on 29 February counts from 1 March)."""
    years = day.year - birth.year
    if (day.month, day.day) < (birth.month, birth.day):
        years -= 1
    return years
