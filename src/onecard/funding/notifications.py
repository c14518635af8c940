"""Every verdict of the bank, to the order it concerns.

Contract: ``handle_bank_notification(ctx, body, signature)`` verifies the signed body
with the context's bank (``channels.bank.gateway``; ``BadSignature`` on a mismatch),
then ``apply_notification``. ``apply_notification(ctx, note)`` applies one verdict —
from a verified callback, or from the files the bank exchanges (a return file, a
statement line) — once: a top-up to ``pay.topup.apply_topup_notification``, a payout
to ``payouts.handle_payout_notification`` (or the handler registered in
``PAYOUT_HANDLERS`` for its order-id prefix); an order no longer pending keeps its state.
Returns the order's status afterwards. Each is one transaction (the applier's).
``deliver_sandbox_notifications(ctx)``: with the sandbox bank nothing calls us back, so
its queued notifications go to the same handler the real callback uses (a demo top-up
completes while the diner waits); with any other bank it does nothing.
"""

from __future__ import annotations

from collections.abc import Callable

from onecard.channels.bank import Notification, gateway
from onecard.channels.sandbox import SandboxBank
from onecard.core.context import Context
from onecard.funding.payouts import handle_payout_notification
from onecard.pay.topup import apply_topup_notification


def handle_bank_notification(ctx: Context, body: bytes, signature: str) -> str:
    """Apply one signed bank notification; returns the order's status afterwards."""
    return apply_notification(ctx, gateway(ctx).verify_notification(body, signature))


# Payouts of areas above funding (inter-region clearing's ``IR…`` orders) register their
# handler here by order-id prefix when imported: funding may not import them, and the
# bank's one callback, return files and statements must reach every order.
PAYOUT_HANDLERS: dict[str, Callable[[Context, Notification], str]] = {}


def apply_notification(ctx: Context, note: Notification) -> str:
    if note.kind == "topup":
        return apply_topup_notification(ctx, note)
    for prefix, handler in PAYOUT_HANDLERS.items():
        if note.order_id.startswith(prefix):
            return handler(ctx, note)
    status: str = handle_payout_notification(ctx, note)
    return status


def deliver_sandbox_notifications(ctx: Context) -> None:
    bank = gateway(ctx)
    if isinstance(bank, SandboxBank):

        def handle(body: bytes, signature: str) -> None:
            handle_bank_notification(ctx, body, signature)

        bank.deliver(handle)
