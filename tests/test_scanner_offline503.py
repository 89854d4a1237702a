"""The phone treats a 503 like no signal: the signed scan stays queued and is delivered once
the server serves again (a full disk, a database restarting). Debian's Chromium, a fake
camera and a real server, as in tests/test_scanner_browser.py; the 503 comes from Playwright's
``page.route`` in front of the real endpoint.

The service worker is blocked here so the page's own queue and backoff are what deliver the
scan (the worker's Background Sync treats 5xx the same way: scanner_pwa/sw.js).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from tests.support.server import LiveServer
from tests.test_scanner_browser import (
    TIMEOUT_MS,
    camera,
    chromium,
    demo,
    enrol,
    records,
    scan,
    server,
    token_url,
    wait_result,
    wait_scanning,
)

if TYPE_CHECKING:
    from playwright.sync_api import Browser, BrowserContext, Route

pytestmark = [pytest.mark.browser, pytest.mark.slow]
__all__ = ["camera", "chromium", "demo", "server"]  # fixtures of tests/test_scanner_browser.py
CHECKINS = "**/api/v1/checkins"


@pytest.fixture
def page_only(chromium: Browser) -> Iterator[BrowserContext]:
    ctx = chromium.new_context(locale="id-ID", service_workers="block")
    ctx.set_default_timeout(TIMEOUT_MS)
    yield ctx
    ctx.close()


@pytest.mark.parametrize("code", ["storage_full", "database_unavailable"])
def test_a_503_keeps_the_scan_queued_until_the_server_serves_again(
    server: LiveServer,
    demo: dict[str, Any],
    page_only: BrowserContext,
    camera: Path,
    database_url: str,
    code: str,
) -> None:
    refused: list[str] = []

    def unavailable(route: Route) -> None:
        if route.request.method != "POST":
            route.continue_()
            return
        refused.append(route.request.post_data or "")
        error = {"code": code, "message": "Coba lagi nanti.", "message_en": "Try again later."}
        route.fulfill(
            status=503,
            content_type="application/json",
            headers={"Retry-After": "60"},
            body=json.dumps({"error": error}),
        )

    page = page_only.new_page()
    enrol(page, server, demo["employees"][0])
    wait_scanning(page)
    page.route(CHECKINS, unavailable)
    scan(page, camera, token_url(server, demo["display"]["id"]), "queued")
    assert "disimpan" in page.inner_text("#result-message")  # kept, not refused
    assert page.locator("#queue-banner").is_visible()
    assert refused, "the check-in never reached the route"
    assert records(database_url) == []

    page.unroute(CHECKINS)  # the server serves again: the backoff timer delivers the scan
    wait_result(page, "ok")
    [row] = records(database_url)
    assert row["status"] == "accepted"
    assert page.locator("#queue-banner").is_hidden()
    # The scan delivered is the one signed before the 503, not a new one.
    assert json.loads(refused[0])["client_ts"] == row["client_ts"]
