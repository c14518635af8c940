"""A money-year city: three units, two canteens, staff with quarterly standards, bank
accounts at the sandbox bank, and helpers that move the clock and drive the runs.

Unit A 市财政局 runs its own canteen (no fee); unit B 市人民医院 has an outsourced one;
unit C 市档案馆 has none. Lunch prices own / visitor: A 300 / 500, B 400 / 600 fen.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, time

from onecard.channels.bank import DINING_FUND_ACCOUNT
from onecard.channels.sandbox import SandboxBank
from onecard.core.clock import FixedClock, from_local
from onecard.core.context import Context
from onecard.funding import notifications
from onecard.ledger.service import account_id, balances, derived_balance, system_account
from onecard.ledger.verify import verify
from onecard.org import builders as b
from onecard.org.actors import Actor
from onecard.pay import topup
from onecard.pay.cards import issue_card_conn
from onecard.pay.service import PaymentRequest, TerminalIdentity, pay

BUREAU = Actor.system("bureau")
OPERATOR_ACCOUNT = "6217000000000000001"
OPERATOR_NAME = "郴州湘味餐饮管理有限公司"
UNIT_ACCOUNTS = {
    "A": "43050100000000000101",
    "B": "43050100000000000102",
    "C": "43050100000000000103",
}
STAFF = [  # key, unit, name, quarterly standard (0 = the unit's default 60000)
    ("a1", "A", "张伟", 0),
    ("a2", "A", "王芳", 45000),
    ("b1", "B", "李娜", 0),
    ("b2", "B", "赵敏", 0),
    ("c1", "C", "刘洋", 30000),
]


@dataclass
class City:
    ctx: Context
    region: int
    units: dict[str, int] = field(default_factory=dict)
    unit_codes: dict[str, str] = field(default_factory=dict)
    canteens: dict[str, int] = field(default_factory=dict)
    people: dict[str, int] = field(default_factory=dict)
    cards: dict[str, str] = field(default_factory=dict)
    terminals: dict[str, TerminalIdentity] = field(default_factory=dict)
    txn: int = 0

    @property
    def bank(self) -> SandboxBank:
        assert isinstance(self.ctx.bank, SandboxBank)
        return self.ctx.bank

    @property
    def clock(self) -> FixedClock:
        assert isinstance(self.ctx.clock, FixedClock)
        return self.ctx.clock

    # --- time ------------------------------------------------------------------------
    def at(self, day: date, hour: int = 9, minute: int = 0) -> None:
        self.clock.set(from_local(datetime.combine(day, time(hour, minute))))

    # --- the calendar the money runs keep (funding.calendar) -----------------------------
    def issue(self, quarter: str) -> None:
        """The quarter's funding notices: distribution waits for them."""
        from onecard.funding.notices import issue_notices

        issue_notices(self.ctx, BUREAU, quarter)

    def settle_year(self, year: int) -> None:
        """Settle the year's quarters (each only once it has ended: call this on or after
        1 January of the next year), as year-end clearing requires."""
        from onecard.funding.settlement import settle_quarter

        for n in range(1, 5):
            settle_quarter(self.ctx, BUREAU, f"{year}Q{n}")

    # --- people ----------------------------------------------------------------------
    def add_person(
        self, key: str, unit: str, name: str, standard: int = 0, joined: date | None = None
    ) -> int:
        with self.ctx.db.begin() as conn:
            pid = b.create_person(
                conn,
                self.region,
                self.units[unit],
                f"S{key}",
                name,
                standard_fen=standard,
                bank_card_no=f"62170000{key}",
                joined_on=joined,
            )
            self.cards[key] = issue_card_conn(conn, self.ctx, pid)
        self.people[key] = pid
        self.bank.open_outside_account(f"62170000{key}", name, 100_000)
        return pid

    # --- money at the bank -----------------------------------------------------------
    def unit_pays(self, unit: str, amount: int, memo: str) -> None:
        self.bank.credit_from_outside(UNIT_ACCOUNTS[unit], DINING_FUND_ACCOUNT, amount, memo)

    def deliver(self) -> int:
        """The bank's callbacks reach our notification handler."""
        return self.bank.deliver(
            lambda body, sig: notifications.handle_bank_notification(self.ctx, body, sig)
        )

    def top_up(self, key: str, amount: int) -> None:
        topup.request_topup(self.ctx, self.people[key], amount)
        self.deliver()

    # --- meals -----------------------------------------------------------------------
    def lunch(self, key: str, canteen: str, day: date) -> dict[str, object]:
        self.at(day, 12, 0)
        return self.pay(key, canteen, meal="lunch")

    def pay(
        self, key: str, canteen: str, *, meal: str | None = None, amount: int | None = None
    ) -> dict[str, object]:
        import json

        self.txn += 1
        out = pay(
            self.ctx,
            self.terminals[canteen],
            PaymentRequest(f"t{self.txn}", self.cards[key], meal=meal, amount_fen=amount),
        )
        got: dict[str, object] = json.loads(out.body)
        assert got["result"] == "approved", got
        return got

    # --- reading ---------------------------------------------------------------------
    def purse(self, key: str) -> tuple[int, int]:
        with self.ctx.db.read() as conn:
            s = account_id(conn, "person", self.people[key], "subsidy")
            c = account_id(conn, "person", self.people[key], "cash")
            got = balances(conn, [s, c])
        return got[s], got[c]

    def unit_account(self, unit: str, kind: str) -> int:
        with self.ctx.db.read() as conn:
            return derived_balance(conn, account_id(conn, "unit", self.units[unit], kind))

    def system(self, kind: str) -> int:
        with self.ctx.db.read() as conn:
            return derived_balance(conn, system_account(conn, kind))

    def payable(self, canteen: str) -> int:
        with self.ctx.db.read() as conn:
            return derived_balance(
                conn, account_id(conn, "canteen", self.canteens[canteen], "canteen_payable")
            )

    def verified(self) -> None:
        with self.ctx.db.read() as conn:
            report = verify(conn)
        assert report.ok, report.problems[:5]

    def snapshot(self) -> tuple[object, ...]:
        """Every number that a repeated run must leave alone."""
        from sqlalchemy import func, select

        from onecard.audit.models import AuditEvent
        from onecard.funding.models import BankOrder, Settlement
        from onecard.ledger.models import JournalEntry, Posting

        with self.ctx.db.read() as conn:
            counts = tuple(
                conn.execute(select(func.count()).select_from(t)).scalar_one()
                for t in (JournalEntry, Posting, Settlement, BankOrder)
            )
            audits = conn.execute(select(func.count()).select_from(AuditEvent)).scalar_one()
        purses = tuple(self.purse(k) for k in sorted(self.people))
        return counts, purses, audits


def build_city(ctx: Context) -> City:
    with ctx.db.begin() as conn:
        city = City(ctx=ctx, region=b.create_region(conn, "431000", "郴州市"))
        for key, code, name in [
            ("A", "U001", "市财政局"),
            ("B", "U002", "市人民医院"),
            ("C", "U003", "市档案馆"),
        ]:
            city.units[key] = b.create_unit(
                conn,
                city.region,
                code,
                name,
                default_standard_fen=60000,
                bank_account=UNIT_ACCOUNTS[key],
            )
            city.unit_codes[key] = code
        city.canteens["A"] = b.create_canteen(
            conn, city.region, city.units["A"], "C001", "财政局机关食堂", operation="self"
        )
        city.canteens["B"] = b.create_canteen(
            conn,
            city.region,
            city.units["B"],
            "C002",
            "人民医院职工食堂",
            operation="outsourced",
            operator_name=OPERATOR_NAME,
            operator_bank_account=OPERATOR_ACCOUNT,
        )
        for ck, own, visitor in [("A", 300, 500), ("B", 400, 600)]:
            cid = city.canteens[ck]
            b.add_meal_period(
                conn,
                cid,
                "lunch",
                "午餐",
                time(11, 30),
                time(13, 30),
                {"own": own, "visitor": visitor, "guest": visitor * 2},
            )
            tid, _key = b.register_terminal(conn, city.region, cid, f"T-{ck}1", key=f"key-{ck}1")
            city.terminals[ck] = TerminalIdentity(tid, f"T-{ck}1", city.region, cid)
    names = {"A": "市财政局", "B": "市人民医院", "C": "市档案馆"}
    for unit, acct in UNIT_ACCOUNTS.items():
        city.bank.open_outside_account(acct, names[unit], 10_000_000)
    city.bank.open_outside_account(OPERATOR_ACCOUNT, OPERATOR_NAME, 0)
    for key, unit, name, std in STAFF:
        city.add_person(key, unit, name, std, joined=date(2025, 1, 1))
    return city
