"""``onecard.web.asgi:create`` — the factory each process of ``onecard serve --workers N``
runs — builds the same app from the environment, on its own database connection."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from onecard.core.config import get_settings
from onecard.core.context import Context
from onecard.core.db import create_schema
from onecard.web import asgi


def test_the_factory_serves_the_database_named_in_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = f"sqlite:///{tmp_path / 'workers.db'}"
    monkeypatch.setenv("ONECARD_DATABASE_URL", url)
    get_settings.cache_clear()
    try:
        create_schema(Context.from_settings().db.engine)
        app = asgi.create()
        assert app.state.ctx.settings.database_url == url
        with TestClient(app) as client:
            assert client.get("/healthz").status_code == 200
            denied = client.post("/api/v1/terminal/payments", json={})
            assert denied.status_code == 401
        app.state.ctx.db.engine.dispose()
    finally:
        get_settings.cache_clear()
