"""A terminal client that can lose its network: ``onecard terminal simulate``.

Contract: ``SimTerminal`` speaks the server's HTTP protocol with httpx, as a till would:
``enrol`` registers its Ed25519 public key, ``refresh`` fetches the working set (in full
the first time, then only what changed since the version it holds), ``sell`` takes a
payment — online through ``POST /api/v1/terminal/payments`` while the network answers,
and, once a request fails to connect or ``cut`` was called, offline: it decides locally
on its working set within the limits (``terminals.limits.over_limit``, the server's own
check), verifies payment codes with the secrets it holds (``pay.paycode.match_step``),
signs the record and keeps it. ``upload`` sends what it keeps in sequence order, in
batches, and forgets each record the server answered (applied, refused or duplicate);
it stops at the first ``deferred``. Every loop is bounded by what it holds.

The clock is the caller's (``clock``): a real till reads its own, a test passes one.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, time, timedelta
from typing import Any, Protocol

import httpx
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from onecard.core.clock import to_local
from onecard.core.context import Context
from onecard.core.errors import OneCardError
from onecard.pay import paycode
from onecard.pay.decide import PaymentRequest, TerminalIdentity
from onecard.pay.service import pay
from onecard.terminals import service, signing
from onecard.terminals.limits import Limits, Tally, over_limit


class Requester(Protocol):
    """What the till sends its requests through: an ``httpx.Client`` (a test's
    in-process ``TestClient`` too), or ``InProcess``."""

    def request(self, method: str, url: str, **kw: Any) -> httpx.Response: ...


@dataclass
class InProcess:
    """The same protocol answered by the services in this process, for the demo city
    (which replays its quarter without a server): each path calls what its route calls."""

    ctx: Context
    terminal: TerminalIdentity

    def request(self, method: str, url: str, **kw: Any) -> httpx.Response:
        body: Any = kw.get("json")
        params: dict[str, Any] = kw.get("params") or {}
        base = "/api/v1/terminal"
        if (method, url) == ("POST", f"{base}/offline/key"):
            service.enrol(self.ctx, self.terminal, body["public_key"])
            return httpx.Response(200, json={"terminal": self.terminal.code, "registered": True})
        if (method, url) == ("GET", f"{base}/offline/working-set"):
            since = params.get("since")
            got = service.working_set(
                self.ctx, self.terminal, None if since is None else int(since)
            )
            return httpx.Response(200, json=got)
        if (method, url) == ("POST", f"{base}/offline/uploads"):
            items = [
                service.Signed(r["record"], r["body_hash"], r["signature"]) for r in body["records"]
            ]
            return httpx.Response(
                200, json={"results": service.upload(self.ctx, self.terminal, items)}
            )
        if (method, url) == ("POST", f"{base}/payments"):
            req = PaymentRequest(
                body["txn_id"], body["credential"], body.get("meal"), body.get("amount_fen")
            )
            return httpx.Response(200, content=pay(self.ctx, self.terminal, req).body)
        return httpx.Response(404, json={"error": {"code": "not_found", "message": url}})


@dataclass
class LocalAnswer:
    """The till's answer for one sale."""

    result: str  # approved | refused
    offline: bool
    txn_id: str
    amount_fen: int = 0
    code: str | None = None
    seq: int | None = None


@dataclass
class SimTerminal:
    base_url: str
    code: str
    device_key: str
    key: Ed25519PrivateKey = field(default_factory=signing.new_key)
    clock: Callable[[], datetime] = field(default=lambda: datetime.now(UTC).replace(tzinfo=None))
    timeout: float = 5.0
    client: Requester | None = None  # a test's client, or ``InProcess``; None: connect
    online: bool = True
    version: int | None = None
    as_of: datetime | None = None
    limits: Limits = field(default_factory=Limits)
    region_no: str = ""
    step_seconds: int = paycode.DEFAULT_STEP_SECONDS
    entries: dict[str, dict[str, Any]] = field(default_factory=dict)
    queue: list[dict[str, Any]] = field(default_factory=list)  # signed, not yet answered
    next_seq: int = 1
    sold_online: int = 0
    day_fen: dict[tuple[int, str], int] = field(default_factory=dict)
    meals_had: dict[tuple[int, str, str], int] = field(default_factory=dict)
    spent_steps: dict[int, int] = field(default_factory=dict)

    # --- the network ------------------------------------------------------------------------
    def _call(self, method: str, path: str, **kw: Any) -> Any:
        headers = {"Authorization": f"Terminal {self.code}:{self.device_key}"}
        if self.client is not None:
            r = self.client.request(method, path, headers=headers, **kw)
        else:
            with httpx.Client(base_url=self.base_url, timeout=self.timeout) as http:
                r = http.request(method, path, headers=headers, **kw)
        if r.status_code >= 400:
            raise RuntimeError(f"{method} {path}: {r.status_code} {r.text}")
        return r.json()

    def cut(self) -> None:
        """The network goes down (the till notices at its next request, or now)."""
        self.online = False

    def restore(self) -> None:
        self.online = True

    # --- the working set --------------------------------------------------------------------
    def enrol(self) -> None:
        self._call("POST", "/api/v1/terminal/offline/key", json={"public_key": self.public_key})

    @property
    def public_key(self) -> str:
        return signing.public_hex(self.key)

    def refresh(self) -> dict[str, Any]:
        params = {} if self.version is None else {"since": self.version}
        ws = self._call("GET", "/api/v1/terminal/offline/working-set", params=params)
        if ws["full"]:
            self.entries = {}
        for key in ws["removals"]:
            self.entries.pop(key, None)
        self.entries.update(ws["upserts"])
        self.version = int(ws["version"])
        self.as_of = datetime.fromisoformat(ws["as_of"])
        self.limits = Limits.from_dict(ws["limits"])
        self.region_no = str(ws["paycode"]["region_no"])
        self.step_seconds = int(ws["paycode"]["step_seconds"])
        return dict(ws)

    # --- selling ----------------------------------------------------------------------------
    def sell(
        self, credential: str, *, meal: str | None = None, amount_fen: int | None = None
    ) -> LocalAnswer:
        if self.online:
            txn = f"{self.code}-on-{self.sold_online + 1}"
            body: dict[str, Any] = {"txn_id": txn, "credential": credential}
            body.update({"meal": meal} if meal is not None else {"amount_fen": amount_fen})
            try:
                got = self._call("POST", "/api/v1/terminal/payments", json=body)
            except httpx.TransportError:
                self.online = False  # the network is down: sell offline from now on
            else:
                self.sold_online += 1
                return LocalAnswer(
                    got["result"], False, txn, got.get("amount_fen", 0), got.get("code")
                )
        return self._sell_offline(credential, meal, amount_fen)

    def _refused(self, txn: str, code: str) -> LocalAnswer:
        return LocalAnswer("refused", True, txn, code=code)

    def _who(self, credential: str, now: datetime) -> tuple[dict[str, Any], int | None] | str:
        cred = credential.strip()
        if paycode.looks_like_code(cred):
            try:
                parsed = paycode.parse_code(cred, self.region_no)
            except OneCardError as exc:
                return exc.code
            person = next(
                (
                    e
                    for k, e in self.entries.items()
                    if k.startswith("person:") and e["token"] == parsed.token
                ),
                None,
            )
            if person is None:
                return "code_invalid"
            last = max(int(person["last_step"]), self.spent_steps.get(person["person_id"], 0))
            unix = now.replace(tzinfo=UTC).timestamp()
            try:
                step = paycode.match_step(
                    person["secret"], parsed.otp, unix, last, self.step_seconds
                )
            except OneCardError as exc:
                return exc.code
            return person, step
        if f"lost:{cred}" in self.entries:
            return "card_lost"
        for k, e in self.entries.items():
            if k.startswith("person:") and cred in e["cards"]:
                return e, None
        return "unknown_card"

    def _sell_offline(
        self, credential: str, meal: str | None, amount_fen: int | None
    ) -> LocalAnswer:
        now = self.clock()
        seq = self.next_seq
        txn = f"{self.code}-off-{seq}"
        if self.version is None or self.as_of is None:
            return self._refused(txn, "no_working_set")
        found = self._who(credential, now)
        if isinstance(found, str):
            return self._refused(txn, found)
        person, step = found
        meal_limit = 0
        if meal is not None:
            period = self.entries.get(f"meal:{meal}")
            if period is None:
                return self._refused(txn, "not_found")
            t = to_local(now).time()
            if not time.fromisoformat(period["starts"]) <= t < time.fromisoformat(period["ends"]):
                return self._refused(txn, "outside_meal_period")
            price = period["prices"].get(person["diner_class"])
            if price is None:
                return self._refused(txn, "no_price")
            amount = int(price)
            meal_limit = int(period["per_person_limit"])
        else:
            amount = int(amount_fen or 0)
        day = to_local(now).date().isoformat()
        pid = int(person["person_id"])
        exceeded = over_limit(
            self.limits,
            amount_fen=amount,
            person_limit_fen=int(person["day_limit_fen"]),
            tally=Tally(
                self.day_fen.get((pid, day), 0),
                sum(int(r["record"]["amount_fen"]) for r in self.queue),
                len(self.queue),
                self.meals_had.get((pid, str(meal), day), 0),
            ),
            taken_at=now,
            synced_at=self.as_of,
            meal_limit=meal_limit,
        )
        if exceeded is not None:
            return self._refused(txn, f"offline_over_limit:{exceeded}")
        record = {
            "terminal": self.code,
            "seq": seq,
            "txn_id": txn,
            "ws_version": self.version,
            "synced_at": self.as_of.isoformat(timespec="seconds"),
            "taken_at": now.isoformat(timespec="seconds"),
            "person_id": pid,
            "credential": credential.strip(),
            "code_step": step,
            "meal": meal,
            "amount_fen": amount,
        }
        body_hash, signature = signing.sign(self.key, record)
        self.queue.append({"record": record, "body_hash": body_hash, "signature": signature})
        self.next_seq += 1
        self.day_fen[(pid, day)] = self.day_fen.get((pid, day), 0) + amount
        if meal is not None:
            self.meals_had[(pid, meal, day)] = self.meals_had.get((pid, meal, day), 0) + 1
        if step is not None:
            self.spent_steps[pid] = step
        return LocalAnswer("approved", True, txn, amount, seq=seq)

    # --- coming back ------------------------------------------------------------------------
    def upload(self, batch_size: int = 50) -> list[dict[str, Any]]:
        """Send the kept records in order; returns every answer the server gave."""
        answers: list[dict[str, Any]] = []
        for _ in range(len(self.queue) // max(batch_size, 1) + 1):
            if not self.queue:
                break
            batch = self.queue[:batch_size]
            got = self._call("POST", "/api/v1/terminal/offline/uploads", json={"records": batch})
            results = got["results"]
            answers.extend(results)
            done = {r["seq"] for r in results if r["result"] in ("applied", "refused", "duplicate")}
            self.queue = [r for r in self.queue if r["record"]["seq"] not in done]
            if any(r["result"] == "deferred" for r in results):
                break
        return answers


def stepping_clock(start: datetime, step: timedelta) -> Callable[[], datetime]:
    """A clock that moves ``step`` forward each time it is read (a simulated till)."""
    state = {"now": start - step}

    def now() -> datetime:
        state["now"] = state["now"] + step
        return state["now"]

    return now
