"""``onecard interregion``: the statement, confirmations and the check, from another process."""

from __future__ import annotations

from test_interregion_dining import agree, county_world, lunch
from typer.testing import CliRunner

from onecard.cli import app
from onecard.core.context import Context
from onecard.interregion import queries


def test_statement_confirm_and_verify_from_the_command_line(ctx: Context) -> None:
    w, c = county_world(ctx)
    agree(ctx, w, c)
    lunch(ctx, w, c, "k1", "A", "cli-1")
    url = ctx.settings.database_url
    runner = CliRunner()
    res = runner.invoke(
        app,
        ["interregion", "statement", str(c.region), str(w.region), "2026Q1", "--database-url", url],
    )
    assert res.exit_code == 0, res.output
    assert "5.00" in res.output and "县财政局" in res.output
    (s,) = queries.statements(ctx)
    for side in ("home", "host"):
        res = runner.invoke(
            app, ["interregion", "confirm", str(s["id"]), side, "--database-url", url]
        )
        assert res.exit_code == 0, res.output
    assert queries.statement(ctx, s["id"])["status"] == "confirmed"
    res = runner.invoke(
        app, ["interregion", "confirm", str(s["id"]), "host", "--database-url", url]
    )
    assert res.exit_code != 0  # once per side
    res = runner.invoke(app, ["interregion", "verify", "--database-url", url])
    assert res.exit_code == 0 and "OK" in res.output
    res = runner.invoke(app, ["interregion", "agreements", "--database-url", url])
    assert res.exit_code == 0 and "桂阳县" in res.output
