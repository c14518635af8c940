"""Government intranets are often offline: no page may load anything from the network.

The interactive API docs serve Swagger UI from the package, and no template links a CDN.
"""

from __future__ import annotations

import re
import warnings
from pathlib import Path

from onecard.core.context import Context
from onecard.web.app import create_app

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

EXTERNAL = re.compile(r"""(?:src|href)\s*=\s*["']?(?:https?:)?//""", re.I)
WEB = Path(__file__).resolve().parents[1] / "src" / "onecard" / "web"


def test_api_docs_load_swagger_ui_from_the_package(ctx: Context) -> None:
    with TestClient(create_app(ctx)) as client:
        page = client.get("/docs")
        assert page.status_code == 200
        assert not EXTERNAL.search(page.text), page.text
        for asset in re.findall(r"""['"](/static/vendor/swagger-ui/[^'"]+)['"]""", page.text):
            assert client.get(asset).status_code == 200, asset
        assert client.get("/openapi.json").json()["info"]["title"].startswith("OneCard")


def test_no_template_links_the_network() -> None:
    offenders = [
        str(p.relative_to(WEB))
        for p in (WEB / "templates").rglob("*.html")
        if EXTERNAL.search(p.read_text(encoding="utf-8"))
    ]
    assert offenders == []
