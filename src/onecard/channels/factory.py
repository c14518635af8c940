"""Which bank a city talks to: built once per process from the settings, injected.

Contract: ``bank_for(ctx)`` returns the adapter ``ONECARD_BANK`` names —
``FileExchangeBank`` on the city's own database, or ``SandboxBank`` on the store
``sandbox_store_url(settings)`` gives — so the server, every CLI command and
``onecard bank-sandbox`` of one city meet the same bank. Nothing is opened until the
bank is first used.

``ecny_for(ctx)`` is the e-CNY acquirer (``channels.ecny``): today the sandbox
(``ecny_sandbox.SandboxEcny``) on ``ecny_store_url(settings)`` — a real operating bank's
adapter would be picked here, as the bank's is above.
"""

from __future__ import annotations

from pathlib import Path
from typing import cast

from sqlalchemy.engine import make_url

from onecard.channels.bank import BankGateway
from onecard.channels.ecny import EcnyGateway
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


def ecny_store_url(settings: Settings) -> str:
    """``<database>-ecny-sandbox.db`` next to a SQLite file, else the PostgreSQL database
    itself (the sandbox keeps to schema ``ecny_sandbox``)."""
    url = make_url(normalise_url(settings.database_url))
    if url.get_backend_name() != "sqlite":
        return settings.database_url
    if not url.database or url.database == ":memory:":
        return "sqlite://"
    db = Path(url.database)
    return f"sqlite:///{db.with_name(db.stem + '-ecny-sandbox.db')}"


def ecny_for(ctx: Context) -> EcnyGateway:
    from onecard.channels.ecny_sandbox import SandboxEcny

    s = ctx.settings
    return SandboxEcny(secret=s.secret_key.encode(), clock=ctx.clock, store=ecny_store_url(s))


def ecny_gateway(ctx: Context) -> EcnyGateway:
    """The context's e-CNY gateway (given at an edge or by a test), else the configured
    one, built once and kept on the context."""
    if ctx.ecny is None:
        ctx.ecny = ecny_for(ctx)
    return cast(EcnyGateway, ctx.ecny)
