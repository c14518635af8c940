"""Browser-test harness: the app served by uvicorn in a thread, Debian's chromium driven
by Playwright, and a watch on every page for console errors and 5xx answers — the one
set-up every browser test shares (its fixtures, ``browser`` and ``live``, are in
``tests/web/conftest.py``).

Contract: ``LiveServer`` serves ``create_app(ctx)`` on 127.0.0.1 and a free port until
stopped. ``Watch`` attaches to a page and records console errors, uncaught page errors
and any response with status ≥ 500; ``check()`` fails the test on any of them, except
console lines for statuses the test said it expects (a 403 page logs one). Chromium is
launched from /usr/bin/chromium (never a Playwright browser download): ``launch`` is the
one place that does it. ``PHONE`` and ``DESKTOP`` are the two widths every page is tried
at; ``sign_in`` signs a page in through the login form (with the authenticator step for
the roles that need it, the code computed at ``at`` — the server's clock — or now);
``fits`` fails when a page is wider than its window.
"""

from __future__ import annotations

import faulthandler
import re
import socket
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pyotp
import uvicorn

from onecard.core.context import Context
from onecard.web.app import create_app
from web.pages import BUREAU_TOTP, PASSWORD

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]
SCREENSHOTS = Path(__file__).resolve().parents[1] / "screenshots"
PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1366, "height": 900}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class LiveServer:
    def __init__(self, ctx: Context) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        config = uvicorn.Config(
            create_app(ctx),
            host="127.0.0.1",
            port=self.port,
            log_level="warning",
            ws="none",
            lifespan="on",
        )
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def start(self) -> LiveServer:
        self.thread.start()
        deadline = time.monotonic() + 20
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("the test server did not start")
            time.sleep(0.05)
        return self

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=20)


@dataclass
class Watch:
    """Everything that went wrong on a page while the test drove it."""

    expect_statuses: set[int] = field(default_factory=set)
    problems: list[str] = field(default_factory=list)

    def attach(self, page: Any) -> Any:
        page.on("console", self._console)
        page.on("pageerror", lambda exc: self.problems.append(f"page error: {exc}"))
        page.on("response", self._response)
        return page

    def _console(self, msg: Any) -> None:
        if msg.type != "error":
            return
        m = re.search(r"status of (\d{3})", msg.text)
        if m and int(m.group(1)) in self.expect_statuses:
            return
        self.problems.append(f"console error: {msg.text}")

    def _response(self, resp: Any) -> None:
        if resp.status >= 500:
            self.problems.append(f"HTTP {resp.status} from {resp.url}")

    def check(self) -> None:
        assert not self.problems, "\n".join(self.problems)


def shot(page: Any, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)


@contextmanager
def launch() -> Iterator[Any]:
    """Debian's chromium, headless, through Playwright (closed on leaving)."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield b
        finally:
            b.close()


def sign_in(
    page: Any, base: str, staff_no: str, totp: bool = False, at: datetime | None = None
) -> None:
    """Sign in through the login form; ``totp`` answers the authenticator step with the
    code at ``at`` (naive UTC: the server's clock when it is not the real one).

    A sign-in whose page does not arrive in time (seen once in CI, on a loaded machine:
    the click's navigation never finished) prints every thread's stack to stderr — the
    server runs in this process, so a request waiting on a lock shows who holds it — and
    is tried once more, from a browser with no cookies; a second stall fails the test."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    try:
        _sign_in_once(page, base, staff_no, totp, at)
    except PlaywrightTimeout:
        print(f"sign-in of {staff_no} at {base} stalled; every thread's stack:", file=sys.stderr)
        faulthandler.dump_traceback(file=sys.stderr, all_threads=True)
        page.context.clear_cookies()  # a half-finished sign-in starts again from nothing
        _sign_in_once(page, base, staff_no, totp, at)


def _sign_in_once(page: Any, base: str, staff_no: str, totp: bool, at: datetime | None) -> None:
    page.goto(f"{base}/login")
    page.fill("input[name=staff_no]", staff_no)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit].primary")
    if totp:
        page.wait_for_url(re.compile(r"/login/totp$"))
        when = at.replace(tzinfo=UTC) if at else datetime.now(UTC)
        page.fill("input[name=code]", pyotp.TOTP(BUREAU_TOTP).at(when.timestamp()))
        page.click("button[type=submit].primary")
    page.wait_for_load_state()
    # The server refuses a code it has taken once: the same person signing in twice in
    # one 30 s step stays here (sign in once and change the viewport instead).
    assert "/login" not in page.url, f"the sign-in of {staff_no} stopped at {page.url}"


def fits(page: Any) -> None:
    """Nothing pushes the page wider than its window (wide tables scroll in their box)."""
    wide = page.evaluate("document.documentElement.scrollWidth")
    window = page.evaluate("window.innerWidth")
    assert wide <= window, f"{page.url} is {wide} px wide in a {window} px window"
