"""The ASGI entry point for several server processes: ``uvicorn --factory onecard.web.asgi:create``.

Contract: ``create()`` builds a ``Context`` from the settings (``ONECARD_*`` environment
variables, ``.env``) and returns the same app ``onecard serve`` runs. Each process gets
its own engine, connection pool and — with ``ONECARD_BATCH_PAYMENTS=1`` on PostgreSQL —
its own payment batcher; they share nothing but the database, which is where every
payment's guarantees live (guarded purse updates, unique transaction ids, terminal
status read in each batch's transaction) — and the bank (``ONECARD_BANK``: the sandbox's
shared store, whose notifications each process's courier delivers, or the file
exchange on the database). ``onecard serve --workers N`` uses it.
"""

from __future__ import annotations

from fastapi import FastAPI

from onecard.channels.factory import bank_for
from onecard.core.context import Context
from onecard.web.app import create_app


def create() -> FastAPI:
    return create_app(Context.from_settings(bank=bank_for), bank_courier=True)
