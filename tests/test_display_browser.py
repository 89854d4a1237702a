"""The office display in Debian's Chromium against a real server: pair through the form, read
the QR off a screenshot, watch it rotate, lose it when the server stops, get it back on restart."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from backend import tokens
from backend.settings import parse_qr_keys
from tests.support.browser import decode_qr, launch_chromium, require_chromium
from tests.support.server import QR_KEYS, LiveServer, live_server

pytestmark = [pytest.mark.browser, pytest.mark.slow]

PERIOD = 3  # seconds: short, so rotations and the expiry come quickly
KEYS = parse_qr_keys(QR_KEYS)


def qr_on_screen(page: Any, server: LiveServer) -> tokens.Token:
    """Decode the only QR code in a screenshot of the page and check its token verifies."""
    page.locator("#qr").wait_for(state="visible")
    shot = page.screenshot()
    texts = decode_qr(shot)
    if len(texts) != 1:
        Path("/tmp/display-fail.png").write_bytes(shot)
    assert len(texts) == 1, texts
    prefix = f"{server.url}/s#"
    assert texts[0].startswith(prefix), texts[0]
    token = tokens.verify(KEYS, texts[0][len(prefix) :], period=PERIOD, grace_windows=1)
    assert texts[0] == tokens.scan_url(server.url, token.text)
    return token


def test_display_pairs_shows_rotates_hides_and_recovers(tmp_path: Path) -> None:
    require_chromium()
    from playwright.sync_api import sync_playwright

    database_url = f"sqlite+aiosqlite:///{tmp_path / 'presensi.db'}"
    with sync_playwright() as playwright:
        browser = launch_chromium(playwright)
        page = browser.new_page(viewport={"width": 1366, "height": 768})
        requests: list[str] = []
        page.on("request", lambda request: requests.append(request.url))
        try:
            with live_server(tmp_path, database_url, qr_period=str(PERIOD)) as server:
                port = int(server.url.rsplit(":", 1)[1])
                info = json.loads(server.cli("demo", "--employees", "1", "--json"))
                display_id = info["display"]["id"]

                page.goto(server.url + "/display")
                assert page.locator("h1").inner_text() == "Pasangkan layar ini"
                page.fill("#code", "WRONG123")
                page.click("button[type=submit]")
                error = page.locator("[data-error=invalid_code]")
                error.wait_for(state="visible")
                assert "Kode pemasangan salah" in error.inner_text()
                page.fill("#code", info["display"]["pairing_code"])
                page.click("button[type=submit]")
                page.wait_for_url(server.url + "/display")

                qr = page.locator("#qr")
                qr.wait_for(state="visible")
                first = qr_on_screen(page, server)
                assert first.display_id == display_id
                assert page.locator("#office").inner_text() == info["office"]["name"]
                assert page.locator("#status").get_attribute("data-state") == "connected"

                # As large as the screen allows: the code fills the height, at both sizes.
                for width, height in ((1366, 768), (1920, 1080)):
                    page.set_viewport_size({"width": width, "height": height})
                    page.wait_for_function(
                        "h => document.getElementById('qr').getBoundingClientRect().height"
                        " > 0.85 * h",
                        arg=height,
                    )
                    box = qr.bounding_box()
                    assert box is not None
                    assert box["x"] >= 0 and box["y"] >= 0
                    assert box["x"] + box["width"] <= width and box["y"] + box["height"] <= height
                    assert qr_on_screen(page, server).display_id == display_id

                # The next window's code arrives at the boundary, with no click.
                page.wait_for_function(
                    "w => Number(document.getElementById('qr').dataset.window) > w",
                    arg=first.window,
                    timeout=2 * PERIOD * 1000,
                )
                assert qr_on_screen(page, server).window > first.window
            # The server has stopped: the code must go within one period.
            qr.wait_for(state="hidden", timeout=PERIOD * 1000)
            assert decode_qr(page.screenshot()) == []
            assert page.locator("#status").get_attribute("data-state") != "connected"

            with live_server(tmp_path, database_url, port=port, qr_period=str(PERIOD)) as again:
                assert again.url == server.url
                qr.wait_for(state="visible", timeout=30_000)
                back = qr_on_screen(page, again)
                assert back.display_id == display_id
                assert back.window > first.window
                assert page.locator("#status").get_attribute("data-state") == "connected"
        finally:
            browser.close()
    # No network access except the Presensi server (and the page's own data URLs).
    foreign = [u for u in requests if not u.startswith(server.url) and not u.startswith("data:")]
    assert foreign == []
