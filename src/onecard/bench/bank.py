"""The bank as the city quarter bench sees it: it accepts every order and does nothing.

Contract: ``AcceptingBank`` fills ``BankGateway`` so the settlement's payouts can be sent
without measuring a simulated bank: each order id gets one reference (the same again
for a repeat), no money moves, nothing is notified, statements are empty. The quarter
bench times OneCard's settlement; the sandbox bank's own cost (about 1 ms an order on
its in-memory store, mostly SQLAlchemy's per-statement overhead) is not OneCard's.
Nothing else uses it.
"""

from __future__ import annotations

from datetime import date

from onecard.channels.bank import BankAck, Notification, check_order_id
from onecard.channels.statement import StatementLine, render_statement_file
from onecard.core.clock import Clock
from onecard.core.errors import BadSignature


class AcceptingBank:
    def __init__(self, clock: Clock) -> None:
        self.clock = clock
        self.refs: dict[str, BankAck] = {}

    def _ack(self, order_id: str) -> BankAck:
        check_order_id(order_id)
        if order_id not in self.refs:
            self.refs[order_id] = BankAck(order_id, f"BENCH{len(self.refs):010d}", self.clock.now())
        return self.refs[order_id]

    def debit_card_for_topup(self, order_id: str, card_no: str, amount_fen: int) -> BankAck:
        return self._ack(order_id)

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
        return self._ack(order_id)

    def statement(self, day: date) -> list[StatementLine]:
        return []

    def statement_file(self, day: date) -> bytes:
        return render_statement_file([])

    def verify_notification(self, body: bytes, signature: str) -> Notification:
        raise BadSignature()
