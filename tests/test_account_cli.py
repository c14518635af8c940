"""``onecard account activation-code | reset | unlock | activation-codes | temp-password``
on a city that ``onecard init`` started (SQLite, and PostgreSQL when configured): the
bureau's way to let people in from the command line, audited like the pages."""

from __future__ import annotations

import re
from datetime import datetime
from pathlib import Path

import pytest
from openpyxl import load_workbook
from sqlalchemy import select, update

from onecard.audit.models import AuditEvent
from onecard.core.context import Context, Database
from onecard.core.db import make_engine
from onecard.org import builders as b
from onecard.org.models import Person, Region, Unit
from onecard.org.session_models import AccountCode, SignInThrottle
from onecard.web import account_activation as activation
from onecard.web.accounts import Client
from test_init import ARGS, empty_url, run_main  # noqa: F401  (empty_url is a fixture)

CODE = re.compile(r"activation code \(只显示这一次\): ([A-Z2-9]{5}-[A-Z2-9]{5})")


def test_the_account_commands(
    empty_url: str,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
) -> None:
    db = ["--database-url", empty_url]
    assert run_main(monkeypatch, "init", *ARGS, *db) == 0
    engine = make_engine(empty_url)
    ctx = Context(db=Database(engine))
    with ctx.db.begin() as conn:
        region = conn.execute(select(Region.id)).scalar_one()
        unit = conn.execute(select(Unit.id)).scalar_one()
        for no in ("P001", "P002"):
            b.create_person(conn, region, unit, no, f"职员{no}")
    capsys.readouterr()

    assert run_main(monkeypatch, "account", "activation-code", "P001", *db) == 0
    code = CODE.search(capsys.readouterr().out)
    assert code, "the code is printed once"
    activation.activate(ctx, "P001", code.group(1), "Chenzhou2026", Client("10.0.0.1"))

    # A locked sign-in, unlocked.
    with ctx.db.begin() as conn:
        conn.execute(
            update(SignInThrottle)
            .where(SignInThrottle.key == "P001")
            .values(blocked_until=datetime(2099, 1, 1))
        )
    assert run_main(monkeypatch, "account", "unlock", "P001", *db) == 0
    assert re.search(r"已解除登录锁定（清除 [1-9] 个计数）", capsys.readouterr().out)
    with ctx.db.read() as conn:
        assert conn.execute(select(SignInThrottle).where(SignInThrottle.key == "P001")).all() == []

    assert run_main(monkeypatch, "account", "reset", "P001", *db) == 0
    out = capsys.readouterr().out
    assert "密码已清除" in out and CODE.search(out)

    out_file = tmp_path / "codes.xlsx"
    args = ["account", "activation-codes", "--unit", "BUREAU", "--out", str(out_file)]
    assert run_main(monkeypatch, *args, *db) == 0
    assert "1 个激活码" in capsys.readouterr().out  # P002 only: P001 holds a live code
    rows = list(load_workbook(out_file)["激活码"].iter_rows(values_only=True))
    assert rows[0] == ("姓名", "工号", "单位", "激活码", "有效期至")
    assert [r[1] for r in rows[1:]] == ["P002"]

    assert run_main(monkeypatch, "account", "temp-password", "P002", *db) == 0
    assert re.search(
        r"temporary password \(只显示这一次\): ([A-Za-z0-9]{12})", capsys.readouterr().out
    )
    assert run_main(monkeypatch, "account", "unlock", "NOBODY", *db) != 0
    with ctx.db.read() as conn:
        must = conn.execute(
            select(Person.must_change_password).where(Person.staff_no == "P002")
        ).scalar_one()
        left = conn.execute(select(AccountCode.person_id)).all()
        acts = [a for (a,) in conn.execute(select(AuditEvent.action).order_by(AuditEvent.seq))]
    assert must is True and len(left) == 1  # P001's reset code (P002's went with the password)
    for action in (
        "activation_code_issued",
        "account_activated",
        "unlock_account",
        "password_reset",
        "password_temporary",
    ):
        assert action in acts, action
    engine.dispose()
