"""Simulated terminals: a cheap asyncio HTTP/1.1 keep-alive client, closed and open loop.

Contract: ``Workload`` makes the rush's payments (card and payment-code — and face, at
the face terminals of a ``FaceRush`` when one is given: a descriptor with liveness, the
staff number's last 4 digits sent again with the same txn id when the till is asked for
them —, lunch by meal period and open amounts, a few lost cards and empty purses, a few retries of the same
transaction id); ``closed_loop`` runs N terminals each paying as fast as it is answered;
``open_loop`` offers a fixed rate for a bounded time (latency counted from each
payment's scheduled time, so a slow server cannot hide its queue). Both stop by
themselves and only ever connect to 127.0.0.1. ``LoadResult`` holds the figures.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import random
import time
from dataclasses import dataclass, field

from onecard.bench.city import BenchCity, BenchPerson, BenchTerminal
from onecard.bench.face_rush import FaceRush
from onecard.pay import paycode

PATH = b"/api/v1/terminal/payments"
FACE_PATH = b"/api/v1/terminal/face-payments"
KINDS = ("card", "code", "face")


@dataclass
class Payment:
    terminal: BenchTerminal
    body: bytes
    expect: str  # approved | refused (what the bench expects; refused for lost/empty)
    retry: bool = False
    wire: bytes = b""
    kind: str = "card"  # card | code | face
    digits_wire: bytes = b""  # a face payment sent again with the 4 digits, if asked


@dataclass
class LoadResult:
    name: str
    seconds: float = 0.0
    latencies: list[float] = field(default_factory=list)
    approved: int = 0
    refused: dict[str, int] = field(default_factory=dict)
    unexpected_refusals: int = 0
    errors: dict[str, int] = field(default_factory=dict)
    retries: int = 0
    retry_mismatches: int = 0
    approved_fen: int = 0
    client_cpu: float = 0.0
    offered_rate: float | None = None
    card: int = 0
    code: int = 0
    face: int = 0
    need_digits: int = 0  # face payments the till had to ask the 4 digits for
    by_kind: dict[str, list[float]] = field(default_factory=dict)  # kind → latencies

    def kind_pct(self, kind: str, p: float) -> float:
        got = sorted(self.by_kind.get(kind, []))
        return got[min(len(got) - 1, int(p / 100 * len(got)))] * 1000 if got else float("nan")

    @property
    def done(self) -> int:
        return len(self.latencies)

    @property
    def rate(self) -> float:
        return self.done / self.seconds if self.seconds else 0.0

    def pct(self, p: float) -> float:
        if not self.latencies:
            return float("nan")
        s = sorted(self.latencies)
        return s[min(len(s) - 1, int(p / 100 * len(s)))] * 1000

    @property
    def error_count(self) -> int:
        return sum(self.errors.values())


class Workload:
    """Deterministic stream of payments over the city's people and terminals."""

    def __init__(
        self,
        city: BenchCity,
        seed: int = 2026,
        region_no: str = "735",
        face: FaceRush | None = None,
    ) -> None:
        self.city = city
        self.face = face
        self.rng = random.Random(seed)
        self.region_no = region_no
        ok = [p for p in city.people if p.kind == "ok"]
        self.rng.shuffle(ok)
        self.people = itertools.cycle(ok)
        # A small city may have no lost card or empty purse at all: then none is paid
        # with (standing in an ordinary diner would drain their purse and make their
        # later payments fail unexpectedly).
        self.lost = [p for p in city.people if p.kind == "lost"]
        self.poor = [p for p in city.people if p.kind == "poor"]
        self.had_lunch: set[int] = set()
        self.seq = 0
        self.code_step: dict[int, int] = {}

    def _terminal_for(self, p: BenchPerson) -> BenchTerminal:
        cid = self.city.canteen_of_unit.get(p.unit_id)
        if cid is None or self.rng.random() < 0.2:
            # A visitor eats at another canteen of their own city (a province's cities
            # keep their own funds: eating in another city needs an agreement).
            region = self.city.region_of_unit.get(p.unit_id)
            here = self.city.canteens_of_region.get(region) if region else None
            cid = self.rng.choice(here or self.city.canteen_ids)
        return self.rng.choice(self.city.terminals[cid])

    def next(self, tag: str) -> Payment:
        self.seq += 1
        r = self.rng.random()
        expect = "approved"
        if r < 0.01 and self.lost:
            p = self.rng.choice(self.lost)
            expect = "refused"
        elif 0.01 <= r < 0.015 and self.poor:
            p = self.rng.choice(self.poor)
            expect = "refused"
        else:
            p = next(self.people)
        terminal = self._terminal_for(p)
        credential = p.card_no
        if expect == "approved" and self.rng.random() < 0.4:
            now = time.time()
            step = int(now // 30)
            if self.code_step.get(p.id, -1) < step:  # one code per person per step
                self.code_step[p.id] = step
                credential = paycode.make_code(self.region_no, p.token, p.secret, now)
        doc: dict[str, object] = {"txn_id": f"{tag}-{self.seq}", "credential": credential}
        kind = "code" if credential != p.card_no else "card"
        face = self.face
        if (
            face is not None
            and expect == "approved"
            and terminal.id in face.terminal_ids
            and p.id in face.faces
        ):
            kind = "face"
            doc = {"txn_id": doc["txn_id"], "liveness": True, "descriptor": face.probe(p)}
        if expect == "approved" and p.id not in self.had_lunch:
            self.had_lunch.add(p.id)
            doc["meal"] = "lunch"
        else:
            doc["amount_fen"] = self.rng.choice([300, 500, 800, 1200, 1500, 2500])
        body = json.dumps(doc, separators=(",", ":")).encode()
        pay = Payment(terminal, body, expect, retry=self.rng.random() < 0.01, kind=kind)
        path = FACE_PATH if kind == "face" else PATH
        pay.wire = _wire(path, terminal, body)
        if kind == "face":
            doc["digits"] = f"{p.id:07d}"[-4:]  # the staff number's last 4 (bench.city)
            pay.digits_wire = _wire(path, terminal, json.dumps(doc, separators=(",", ":")).encode())
        return pay


def _wire(path: bytes, terminal: BenchTerminal, body: bytes) -> bytes:
    return (
        b"POST " + path + b" HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        b"Authorization: Terminal " + f"{terminal.code}:{terminal.key}".encode() + b"\r\n"
        b"Content-Type: application/json\r\nContent-Length: "
        + str(len(body)).encode()
        + b"\r\n\r\n"
        + body
    )


class _Http(asyncio.Protocol):
    """One keep-alive connection; one request in flight at a time."""

    def __init__(self) -> None:
        self.buf = bytearray()
        self.waiter: asyncio.Future[tuple[int, bytes]] | None = None
        self.transport: asyncio.Transport | None = None
        self.closed = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        self.buf += data
        if self.waiter is None:
            return
        end = self.buf.find(b"\r\n\r\n")
        if end < 0:
            return
        head = bytes(self.buf[:end]).lower()
        at = head.find(b"content-length:")
        length = 0
        if at >= 0:
            stop = head.find(b"\r\n", at)
            length = int(head[at + 15 : stop if stop >= 0 else None])
        if len(self.buf) < end + 4 + length:
            return
        status = int(head[9:12])
        body = bytes(self.buf[end + 4 : end + 4 + length])
        del self.buf[: end + 4 + length]
        w, self.waiter = self.waiter, None
        if not w.done():
            w.set_result((status, body))

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_exception(ConnectionError("connection closed"))

    async def send(self, wire: bytes) -> tuple[int, bytes]:
        assert self.transport is not None
        self.waiter = asyncio.get_running_loop().create_future()
        self.transport.write(wire)
        return await self.waiter

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()


async def _connect(port: int) -> _Http:
    _t, proto = await asyncio.get_running_loop().create_connection(_Http, "127.0.0.1", port)
    return proto


def _account(res: LoadResult, pay: Payment, status: int, body: bytes) -> None:
    if status != 200:
        key = f"http_{status}"
        with contextlib.suppress(Exception):
            key += ":" + str(json.loads(body)["error"]["code"])
        res.errors[key] = res.errors.get(key, 0) + 1
        return
    doc = json.loads(body)
    if doc.get("result") == "approved":
        res.approved += 1
        res.approved_fen += int(doc["amount_fen"])
    else:
        code = str(doc.get("code"))
        res.refused[code] = res.refused.get(code, 0) + 1
        if pay.expect == "approved":
            res.unexpected_refusals += 1


async def _one(conn: _Http, pay: Payment, res: LoadResult, t0: float) -> None:
    wire = pay.wire
    try:
        status, body = await conn.send(wire)
        if pay.kind == "face" and status == 200 and b'"result":"need_digits"' in body:
            # The till asks the diner for 4 digits: the same payment, one more request.
            res.need_digits += 1
            wire = pay.digits_wire
            status, body = await conn.send(wire)
    except Exception as exc:
        res.errors[type(exc).__name__] = res.errors.get(type(exc).__name__, 0) + 1
        return
    took = time.perf_counter() - t0
    res.latencies.append(took)
    res.by_kind.setdefault(pay.kind, []).append(took)
    _account(res, pay, status, body)
    setattr(res, pay.kind, getattr(res, pay.kind) + 1)
    if pay.retry and status == 200:
        # The terminal did not hear the answer and asks again with the same txn id.
        res.retries += 1
        try:
            s2, b2 = await conn.send(wire)
        except Exception:
            res.retry_mismatches += 1
            return
        if s2 != status or b2 != body:
            res.retry_mismatches += 1


async def closed_loop(
    port: int, work: Workload, terminals: int, seconds: float, name: str = "closed"
) -> LoadResult:
    res = LoadResult(name)
    conns = [await _connect(port) for _ in range(terminals)]
    deadline = time.perf_counter() + seconds

    async def terminal(conn: _Http) -> None:
        while time.perf_counter() < deadline and not conn.closed:
            pay = work.next(name)
            await _one(conn, pay, res, time.perf_counter())

    cpu0, t0 = time.process_time(), time.perf_counter()
    await asyncio.gather(*(terminal(c) for c in conns))
    res.seconds = time.perf_counter() - t0
    res.client_cpu = time.process_time() - cpu0
    for c in conns:
        c.close()
    return res


async def open_loop(
    port: int,
    work: Workload,
    rate: float,
    seconds: float,
    max_conns: int = 400,
    grace: float = 20.0,
    name: str = "open",
) -> LoadResult:
    res = LoadResult(name, offered_rate=rate)
    idle: list[_Http] = [await _connect(port) for _ in range(min(64, max_conns))]
    opened = len(idle)
    slots = asyncio.Semaphore(max_conns)
    tasks: set[asyncio.Task[None]] = set()
    total = int(rate * seconds)

    async def fire(pay: Payment, scheduled: float) -> None:
        nonlocal opened
        async with slots:
            conn = idle.pop() if idle else None
            if conn is None or conn.closed:
                conn = await _connect(port)
                opened += 1
            await _one(conn, pay, res, scheduled)
            if not conn.closed:
                idle.append(conn)

    cpu0 = time.process_time()
    t0 = time.perf_counter()
    sent = 0
    while sent < total:
        now = time.perf_counter()
        due = min(total, int((now - t0) * rate) + 1)
        while sent < due:
            scheduled = t0 + sent / rate
            t = asyncio.create_task(fire(work.next(name), scheduled))
            tasks.add(t)
            t.add_done_callback(tasks.discard)
            sent += 1
        await asyncio.sleep(max(0.0, t0 + sent / rate - time.perf_counter()))
    if tasks:
        _done, pending = await asyncio.wait(set(tasks), timeout=grace)
        for t in pending:
            t.cancel()
        if pending:
            res.errors["timeout"] = len(pending)
    res.seconds = time.perf_counter() - t0
    res.client_cpu = time.process_time() - cpu0
    for c in idle:
        c.close()
    return res
