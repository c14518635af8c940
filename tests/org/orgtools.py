"""Helpers for the organisation-administration tests: a snapshot of every table an
administrative change may touch (to prove a refused change wrote nothing), bank account
numbers that pass or fail their check digit, and the audit rows of one action."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from onecard.audit import records as audit
from onecard.audit.models import AuditEvent
from onecard.core.context import Context
from onecard.funding.models import UnitInfo
from onecard.ledger.models import Account
from onecard.org.bank_accounts import luhn_ok
from onecard.org.models import Canteen, Person, Region, RoleGrant, Unit

TABLES = (Region, Unit, Canteen, Person, RoleGrant, Account, AuditEvent, UnitInfo)


def everything(ctx: Context) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of the organisation's tables, in id order."""
    out: dict[str, list[tuple[Any, ...]]] = {}
    with ctx.db.read() as conn:
        for t in TABLES:
            table = t.__table__  # type: ignore[attr-defined]
            key = list(table.primary_key.columns)
            out[table.name] = [tuple(r) for r in conn.execute(select(table).order_by(*key))]
    return out


def card_number(body: str) -> str:
    """``body`` plus the Luhn check digit: a valid UnionPay-style card number."""
    for d in "0123456789":
        if luhn_ok(body + d):
            return body + d
    raise AssertionError("unreachable")


def bad_card_number(body: str) -> str:
    """The same number with a wrong check digit (one mistyped digit)."""
    good = card_number(body)
    return good[:-1] + str((int(good[-1]) + 1) % 10)


def audits(ctx: Context, action: str) -> list[dict[str, Any]]:
    return audit.records(ctx, action)
