"""Organisation administration's own errors, rooted in ``core.errors`` so the web and
CLI edges map them (422 / exit 2, 409 / exit 5).

::

    InvalidInput ─ InvalidBankAccount   wrong length, not digits, check digit fails
                 ─ UnknownReference     an owner unit, region, parent, person not there
    Conflict ─ DuplicateCode            a unit / canteen / region code or unit name in use
             ─ ConcurrentChange         someone took the same code at the same moment
             ─ RetireRefused            people or money left, terminals in use, …
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy.exc import IntegrityError

from onecard.core.errors import Conflict, InvalidInput
from onecard.org.fields import BadValue


class InvalidBankAccount(InvalidInput):
    code = "invalid_bank_account"
    zh = "{field}不正确：{problem}"
    en = "{field_en} is not valid: {problem_en}"


class UnknownReference(InvalidInput):
    code = "unknown_reference"
    zh = "{field}不存在：{value}"
    en = "{field_en} does not exist: {value}"


class DuplicateCode(Conflict):
    code = "duplicate_code"
    zh = "{field}「{value}」已被使用"
    en = "{field_en} {value} is already in use"


class ConcurrentChange(Conflict):
    code = "concurrent_change"
    zh = "同一编码或授权刚被他人同时占用，未写入任何数据，请刷新后重试"
    en = "Someone took the same code or role at the same moment; nothing was written, reload and try again"


class RetireRefused(Conflict):
    code = "retire_refused"
    zh = "不能撤销{what}：{reasons}"
    en = "{what} cannot be retired: {reasons}"


def error_of(bad: BadValue) -> InvalidInput | Conflict:
    """The error a field problem becomes at the edge (the import keeps it as a row error)."""
    if bad.kind == "bank":
        return InvalidBankAccount(
            field=bad.field, field_en=bad.field_en, problem=bad.problem, problem_en=bad.en
        )
    if bad.kind == "unknown":
        return UnknownReference(field=bad.field, field_en=bad.field_en, value=bad.value)
    if bad.kind == "duplicate":
        return DuplicateCode(field=bad.field, field_en=bad.field_en, value=bad.value)
    return InvalidInput(f"{bad.field}：{bad.problem}")


@contextmanager
def unique_races() -> Iterator[None]:
    """A unique key another transaction took between our check and our write (two
    administrators at once, PostgreSQL's READ COMMITTED) is answered like the check's
    own refusal — 409, nothing written — rather than as a server error. Wrap it around
    the transaction, so the rollback has happened when the answer leaves."""
    try:
        yield
    except IntegrityError as exc:
        orig = exc.orig
        if getattr(orig, "sqlstate", None) == "23505" or "UNIQUE constraint" in str(orig):
            raise ConcurrentChange() from None
        raise
