"""The cashier of a browser-till payment (``payment_cashiers``, migration 0035).

Contract: ``taken_by(person_id, face_attested=…)`` is the ``also`` a till hands to
``pay.service.pay`` / ``pay.face_pay.face_pay``: it writes who took the payment, in the
payment's transaction, exactly when its decision record is written (approved or
refused; a replay writes nothing, so a retried face payment keeps its first cashier).
The browser till signs every payment as the canteen's one till terminal, so this row is
the only place that says which person was at the till — and, for face pay, who
attested that the diner was present (the till's liveness verdict).
"""

from __future__ import annotations

from sqlalchemy import Connection, insert

from onecard.pay.models import PaymentCashier
from onecard.pay.service import AfterRecord, PaymentOutcome


def taken_by(person_id: int, *, face_attested: bool = False) -> AfterRecord:
    def write(conn: Connection, outcome: PaymentOutcome) -> None:
        conn.execute(
            insert(PaymentCashier).values(
                payment_id=outcome.payment_id,
                cashier_id=person_id,
                face_attested=face_attested,
            )
        )

    return write
