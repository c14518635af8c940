"""How organisation administration's problems become errors (the classes are in
``core.errors``, drawn in its tree): ``error_of`` turns a field problem into one;
``unique_races`` answers a unique key another transaction took as ``ConcurrentChange``.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy.exc import IntegrityError

from onecard.core.errors import (
    ConcurrentChange,
    Conflict,
    DuplicateCode,
    InvalidBankAccount,
    InvalidInput,
    UnknownReference,
)
from onecard.org.fields import BadValue


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
