"""The sandbox bank's callbacks: who carries its queued notifications to OneCard.

Contract: a ``Courier`` delivers a ``SandboxBank``'s outbox every ``interval`` seconds on
one daemon thread until ``stop()``, to a handler — in the server, the same function the
callback route calls (``funding.notifications.handle_bank_notification``); in ``onecard
bank-sandbox``, ``http_handler(url)``, which POSTs each signed body to the server's
``/api/v1/channels/bank/notify`` as a bank would. A notification the handler refuses
stays queued and is retried with a growing pause (1 s, 2 s, … up to 5 min).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any

from onecard.channels.sandbox import SandboxBank

log = logging.getLogger("onecard.bank")
Handler = Callable[[bytes, str], Any]


class Courier:
    def __init__(self, bank: SandboxBank, handler: Handler, interval: float = 1.0) -> None:
        self.bank = bank
        self.handler = handler
        self.interval = interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="bank-courier", daemon=True)

    def start(self) -> Courier:
        self._thread.start()
        return self

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout)

    def run_once(self) -> int:
        return self.bank.deliver(self._logged, retry_after=1.0)

    def _logged(self, body: bytes, signature: str) -> None:
        try:
            self.handler(body, signature)
        except Exception as exc:
            log.warning("bank notification not accepted, will retry: %s", exc)
            raise

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                self.run_once()
            except Exception:  # the store unreachable: try again next round
                log.exception("bank courier round failed")
            self._stop.wait(self.interval)


def http_handler(url: str, timeout: float = 10.0) -> Handler:
    """POST the signed body to ``url`` (header ``X-Signature``); anything but 2xx raises."""
    import httpx

    def post(body: bytes, signature: str) -> None:
        resp = httpx.post(
            url,
            content=body,
            headers={"Content-Type": "application/json", "X-Signature": signature},
            timeout=timeout,
        )
        resp.raise_for_status()

    return post
