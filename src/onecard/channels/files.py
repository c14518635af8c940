"""The file-exchange bank: the real adapter for a finance office on online banking.

Contract (``FileExchangeBank`` fills ``BankGateway``; ``ONECARD_BANK=files``):
- ``pay_out`` and ``debit_card_for_topup`` queue the order (``bank_file_orders``) and
  answer "accepted" at once with a queue reference; the same order id again is the same
  ack, with another request ``IdempotencyConflict``. Nothing reaches the bank until a
  person downloads the batch file.
- ``cut_batch(conn, kind, fmt, by)`` writes every queued order of a kind (``transfers``:
  transfers and payouts; ``collections``: card debits for top-ups) into one new batch
  file (CSV or Excel, ``bankfiles.BATCH_HEADER``) and marks them as sent in it; an order
  is in exactly one batch. The file's bytes are kept: downloading it again gives the
  same file.
- ``record_returns(conn, file_id, lines)`` takes a return file's lines: each must name
  an order of a batch already written, with its amount (and account, when given);
  otherwise the whole file is refused. Each order keeps the first result it is given;
  a later, contradicting one is reported (``conflict``), never applied. It returns the
  ``Notification`` each result means (also for a result read before, so reading a file
  again completes an intake that stopped half-way), for the caller to apply — the
  business state of an order changes only there, once (see ``funding.bank_files``).
- ``statement(day)`` is what statement uploads stored for that day (``StatementMissing``
  when none); there are no callbacks, so ``verify_notification`` always refuses.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any, Literal

from sqlalchemy import Connection, insert, select, update

from onecard.channels import bankfiles
from onecard.channels.bank import (
    INCOME_ACCOUNT,
    PLATFORM_ACCOUNT_NAMES,
    TOPUP_SUMMARY,
    BankAck,
    Notification,
    check_amount,
    check_order_id,
)
from onecard.channels.models import BankFileOrder
from onecard.channels.statement import StatementLine, render_statement_file
from onecard.channels.store import record_file, stored_statement
from onecard.channels.tables import RowProblem, rejected
from onecard.core.clock import Clock, from_local, to_local
from onecard.core.context import Database
from onecard.core.errors import (
    IdempotencyConflict,
    InvalidInput,
    NoCallbacks,
    NotFound,
    StatementMissing,
)
from onecard.core.money import yuan

BatchKind = Literal["transfers", "collections"]
ORDER_KIND: dict[BatchKind, str] = {"transfers": "transfer", "collections": "collection"}
BATCH_TITLE: dict[BatchKind, str] = {"transfers": "批量转账", "collections": "批量代扣"}
OWN_BANK = "本行"  # a transfer between the platform's own accounts


@dataclass(frozen=True)
class ReturnOutcome:
    line: bankfiles.ReturnLine
    status: Literal["new", "already", "conflict"]
    note: Notification | None  # what the result means for the order (None: conflict)


@dataclass
class FileExchangeBank:
    db: Database
    clock: Clock

    # --- the gateway -------------------------------------------------------------------
    def debit_card_for_topup(self, order_id: str, card_no: str, amount_fen: int) -> BankAck:
        check_order_id(order_id)
        check_amount(amount_fen)
        return self._queue(
            order_id,
            kind="collection",
            payer_account=card_no,
            payer_name=None,
            payee_account=INCOME_ACCOUNT,
            payee_name=PLATFORM_ACCOUNT_NAMES[INCOME_ACCOUNT],
            payee_bank=OWN_BANK,
            amount_fen=amount_fen,
            purpose=TOPUP_SUMMARY,
        )

    def pay_out(
        self,
        order_id: str,
        to_account: str,
        to_name: str,
        amount_fen: int,
        purpose: str,
        *,
        from_account: str | None = None,
    ) -> BankAck:
        from onecard.channels.bank import EXPENDITURE_ACCOUNT

        check_order_id(order_id)
        check_amount(amount_fen)
        source = EXPENDITURE_ACCOUNT if from_account is None else from_account
        if source not in PLATFORM_ACCOUNT_NAMES:
            raise NotFound(what=f"platform account {source}")
        if to_account == source:
            raise InvalidInput("cannot pay an account to itself")
        return self._queue(
            order_id,
            kind="transfer",
            payer_account=source,
            payer_name=PLATFORM_ACCOUNT_NAMES[source],
            payee_account=to_account,
            payee_name=to_name,
            payee_bank=OWN_BANK if to_account in PLATFORM_ACCOUNT_NAMES else "",
            amount_fen=amount_fen,
            purpose=purpose,
        )

    def statement(self, day: date) -> list[StatementLine]:
        with self.db.read() as conn:
            got = stored_statement(conn, day)
        if not got:
            raise StatementMissing(day=day.isoformat())
        return got

    def statement_file(self, day: date) -> bytes:
        return render_statement_file(self.statement(day))

    def verify_notification(self, body: bytes, signature: str) -> Notification:
        raise NoCallbacks()

    # --- the file side (inside the caller's transaction) -------------------------------
    def waiting(self, conn: Connection, kind: BatchKind) -> list[Any]:
        """Orders of a kind queued and not yet written into a batch file, oldest first."""
        return list(
            conn.execute(
                select(BankFileOrder.__table__)
                .where(
                    BankFileOrder.kind == ORDER_KIND[kind],
                    BankFileOrder.batch_file_id.is_(None),
                )
                .order_by(BankFileOrder.id)
            ).all()
        )

    def cut_batch(
        self, conn: Connection, kind: BatchKind, fmt: bankfiles.FileFormat, by: str
    ) -> tuple[int, str, bytes, list[Any]] | None:
        """(file id, file name, bytes, orders) of a new batch of every waiting order of
        ``kind``, or None when nothing waits."""
        todo = self.waiting(conn, kind)
        if not todo:
            return None
        lines = [
            bankfiles.BatchLine(
                reference=o.order_id,
                payer_account=o.payer_account,
                payer_name=o.payer_name,
                payee_account=o.payee_account,
                payee_name=o.payee_name,
                payee_bank=o.payee_bank,
                amount_fen=int(o.amount_fen),
                purpose=bankfiles.purpose_with_reference(o.order_id, o.purpose),
            )
            for o in todo
        ]
        now = self.clock.now()
        data = bankfiles.render_batch(lines, fmt, BATCH_TITLE[kind])
        name = f"{BATCH_TITLE[kind]}-{to_local(now):%Y%m%d-%H%M%S}-{todo[0].id}.{fmt}"
        fid, _ = record_file(
            conn,
            kind=kind,
            name=name,
            data=data,
            lines=len(lines),
            amount_fen=sum(ln.amount_fen for ln in lines),
            now=now,
            by=by,
            fmt=fmt,
        )
        conn.execute(
            update(BankFileOrder)
            .where(BankFileOrder.id.in_([o.id for o in todo]))
            .values(batch_file_id=fid)
        )
        return fid, name, data, todo

    def record_returns(
        self,
        conn: Connection,
        file_id: int,
        lines: list[bankfiles.ReturnLine],
    ) -> list[ReturnOutcome]:
        refs = [ln.reference for ln in lines]
        orders = {
            r.order_id: r
            for r in conn.execute(
                select(BankFileOrder.__table__)
                .where(BankFileOrder.order_id.in_(refs))
                .with_for_update()
            )
        }
        problems = [
            p for ln in lines for p in _return_problems(ln.row, ln, orders.get(ln.reference))
        ]
        if problems:
            raise rejected(problems)
        now = self.clock.now()
        out: list[ReturnOutcome] = []
        for ln in lines:
            o = orders[ln.reference]
            result = "paid" if ln.paid else "failed"
            at = from_local(ln.at) if ln.at else now
            note = Notification(
                order_id=o.order_id,
                bank_ref=ln.serial or o.queue_ref,
                status="succeeded" if ln.paid else "failed",
                amount_fen=int(o.amount_fen),
                failure_reason=None if ln.paid else ln.reason,
                occurred_at=at,
                kind="topup" if o.kind == "collection" else "payout",
            )
            if o.result is not None:
                # Read before: the same result is applied again (harmless; it completes an
                # intake that stopped half-way), a different one only reported.
                same = o.result == result
                out.append(
                    ReturnOutcome(ln, "already" if same else "conflict", note if same else None)
                )
                continue
            conn.execute(
                update(BankFileOrder)
                .where(BankFileOrder.id == o.id)
                .values(
                    result=result,
                    failure_reason=None if ln.paid else ln.reason[:100],
                    bank_serial=ln.serial or None,
                    result_at=at,
                    result_file_id=file_id,
                )
            )
            out.append(ReturnOutcome(ln, "new", note))
        return out

    # --- internals ---------------------------------------------------------------------
    def _queue(self, order_id: str, *, payer_name: str | None, **fields: Any) -> BankAck:
        with self.db.begin() as conn:
            if payer_name is None:
                payer_name = _card_holder(conn, str(fields["payer_account"]))
            request = {**fields, "payer_name": payer_name}
            known = conn.execute(
                select(BankFileOrder.__table__)
                .where(BankFileOrder.order_id == order_id)
                .with_for_update()
            ).first()
            if known is not None:
                if any(getattr(known, k) != v for k, v in request.items()):
                    raise IdempotencyConflict(f"order {order_id}")
                return BankAck(order_id, known.queue_ref, known.queued_at)
            now = self.clock.now().replace(microsecond=0)
            oid = conn.execute(
                insert(BankFileOrder)
                .values(order_id=order_id, queue_ref="", queued_at=now, **request)
                .returning(BankFileOrder.id)
            ).scalar_one()
            ref = f"FX{to_local(now):%Y%m%d}{int(oid):010d}"
            conn.execute(update(BankFileOrder).where(BankFileOrder.id == oid).values(queue_ref=ref))
        return BankAck(order_id, ref, now)


def _card_holder(conn: Connection, card_no: str) -> str:
    """The name a card debit is made out to: the person the card is bound to."""
    from onecard.org.models import Person

    name = conn.execute(select(Person.name).where(Person.bank_card_no == card_no).limit(1)).scalar()
    return str(name or "")


def _return_problems(row: int, ln: bankfiles.ReturnLine, order: Any) -> list[RowProblem]:
    if order is None:
        return [RowProblem(row, "业务参考号", f"{ln.reference} 不是本系统发出的指令")]
    if order.batch_file_id is None:
        return [RowProblem(row, "业务参考号", f"{ln.reference} 尚未写入任何批量文件")]
    problems = []
    if ln.amount_fen != order.amount_fen:
        problems.append(RowProblem(row, "金额(元)", f"与指令金额 {yuan(order.amount_fen)} 不符"))
    counterparty = order.payer_account if order.kind == "collection" else order.payee_account
    if ln.account and ln.account != counterparty:
        problems.append(RowProblem(row, "对方账号", f"与指令账号 {counterparty} 不符"))
    return problems
