"""``onecard partner create|rotate|revoke|list``: the secret printed once, the list
never shows it, each change audited."""

from __future__ import annotations

import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from onecard.audit.models import AuditEvent
from onecard.cli import app
from onecard.core.context import Context
from onecard.partners import cli as partners_cli

runner = CliRunner()


def test_the_partner_commands(ctx: Context, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(partners_cli, "context", lambda _url: ctx)
    made = runner.invoke(
        app, ["partner", "create", "jj-bank", "--name", "九江银行", "--scope", "directory:read"]
    )
    assert made.exit_code == 0, made.output
    secret = made.output.split("secret:", 1)[1].split()[0]
    assert len(secret) >= 40
    listed = runner.invoke(app, ["partner", "list"])
    assert "jj-bank" in listed.output and "directory:read" in listed.output
    assert secret not in listed.output
    rotated = runner.invoke(app, ["partner", "rotate", "jj-bank", "--grace-hours", "1"])
    assert rotated.exit_code == 0 and secret not in rotated.output
    assert runner.invoke(app, ["partner", "revoke", "jj-bank"]).exit_code == 0
    assert "revoked" in runner.invoke(app, ["partner", "list"]).output
    bad = runner.invoke(app, ["partner", "create", "x-bank", "--name", "X", "--scope", "pay:all"])
    assert bad.exit_code != 0
    with ctx.db.read() as conn:
        actions = (
            conn.execute(
                select(AuditEvent.action)
                .where(AuditEvent.kind == "partner")
                .order_by(AuditEvent.seq)
            )
            .scalars()
            .all()
        )
    assert actions == ["partner_created", "partner_rotated", "partner_revoked"]
