"""Which bank a city talks to: built once per process from the settings, injected.

Contract: ``bank_for(ctx)`` returns the adapter ``ONECARD_BANK`` names —
``FileExchangeBank`` on the city's own database, or ``SandboxBank`` on the store
``sandbox_store_url(settings)`` gives — so the server, every CLI command and
``onecard bank-sandbox`` of one city meet the same bank. Nothing is opened until the
bank is first used.
"""

from __future__ import annotations

from pathlib import Path

from sqlalchemy.engine import make_url

from onecard.channels.bank import BankGateway
from onecard.core.config import Settings
from onecard.core.context import Context
from onecard.core.db import normalise_url


def sandbox_store_url(settings: Settings) -> str:
    """``ONECARD_BANK_SANDBOX_URL``, else ``<database>-bank-sandbox.db`` next to a SQLite
    file, else the PostgreSQL database itself (the sandbox keeps to schema
    ``bank_sandbox``)."""
    if settings.bank_sandbox_url:
        return settings.bank_sandbox_url
    url = make_url(normalise_url(settings.database_url))
    if url.get_backend_name() != "sqlite":
        return settings.database_url
    if not url.database or url.database == ":memory:":
        return "sqlite://"
    db = Path(url.database)
    return f"sqlite:///{db.with_name(db.stem + '-bank-sandbox.db')}"


def bank_for(ctx: Context) -> BankGateway:
    s = ctx.settings
    if s.bank_adapter == "files":
        from onecard.channels.files import FileExchangeBank

        return FileExchangeBank(ctx.db, ctx.clock)
    from onecard.channels.sandbox import SandboxBank

    return SandboxBank(secret=s.secret_key.encode(), clock=ctx.clock, store=sandbox_store_url(s))
