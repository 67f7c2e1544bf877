"""Headless Debian Chromium driven by Playwright (the browser is never downloaded)."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def require_browser() -> None:
    """Skip when Chromium is absent, unless CI requires the browser tests (then fail)."""
    if not os.path.exists(CHROMIUM):
        if os.environ.get("NNSIM_REQUIRE_BROWSER"):
            pytest.fail(f"{CHROMIUM} not found; .ci/run installs Debian's chromium")
        pytest.skip("Debian chromium not installed (apt-get install chromium)")


@contextmanager
def page(width: int = 1400, height: int = 900) -> Iterator[Any]:
    """A fresh page in headless Chromium."""
    require_browser()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        try:
            yield browser.new_page(viewport={"width": width, "height": height})
        finally:
            browser.close()


def wait_until(pg: Any, expression: str, timeout: float = 30_000, interval: float = 0.05) -> None:
    """Wait until a JavaScript expression is truthy in the page.

    Playwright's ``wait_for_function`` evaluates a string predicate with ``eval`` on every
    animation frame after the first; a page whose Content-Security-Policy forbids
    ``unsafe-eval`` (the listening pages, the explorer) refuses it once the first check is
    false (microsoft/playwright#36986). ``page.evaluate`` goes through the DevTools protocol,
    which the policy does not cover, so each check is one such call until the deadline.

    Parameters
    ----------
    pg : playwright.sync_api.Page
    expression : str
        A JavaScript expression (not a function).
    timeout : float
        Milliseconds before the wait fails, naming the expression.
    interval : float
        Seconds between two checks.
    """
    import time

    deadline = time.monotonic() + timeout / 1000
    while not pg.evaluate(expression):
        if time.monotonic() > deadline:
            raise AssertionError(f"still false after {timeout / 1000:.0f} s: {expression}")
        pg.wait_for_timeout(interval * 1000)
