"""The scanner on bad links: a queued scan is delivered exactly once when the signal returns
(page and service worker share a lock in IndexedDB), and a 7 s round trip still ends in one
accepted check-in, with "still sending" but no false "waiting for signal"."""

# The scanner tests' fixtures are imported by name, and pytest passes them by name.
# ruff: noqa: F401, F811

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from tests.support.server import LiveServer
from tests.test_scanner_browser import (
    CONTROLLED,
    NOT_PRESENSI,
    camera,
    chromium,
    context,
    demo,
    enrol,
    enrolment_code,
    records,
    server,
    show_camera,
    token_url,
    wait_result,
    wait_scanning,
)

if TYPE_CHECKING:
    from playwright.sync_api import Browser, BrowserContext, Page, Request

pytestmark = [pytest.mark.browser, pytest.mark.slow]

# Every state the result card takes, in order (an init script: the page's CSP allows no eval).
RECORD_STATES = """
document.addEventListener('DOMContentLoaded', () => {
  window.__states = [];
  const box = document.getElementById('result');
  new MutationObserver(() => window.__states.push(box.dataset.state)).observe(box, {
    attributes: true, attributeFilter: ['data-state'],
  });
});
"""
QUEUE_SIZE = """() => new Promise((resolve, reject) => {
  const open = indexedDB.open('presensi', 1);
  open.onsuccess = () => {
    const count = open.result.transaction('queue').objectStore('queue').count();
    count.onsuccess = () => resolve(count.result);
    count.onerror = () => reject(count.error);
  };
})"""


def checkin_posts(context: BrowserContext) -> list[str]:
    """Who delivered each POST /api/v1/checkins that reached the server: 'page' or 'worker'."""
    posts: list[str] = []

    def seen(request: Request) -> None:
        if request.method == "POST" and request.url.endswith("/api/v1/checkins"):
            posts.append("worker" if request.service_worker else "page")

    context.on("requestfinished", seen)  # failed attempts (no signal) do not count
    return posts


def test_queued_scan_is_delivered_once_and_says_sent(
    server: LiveServer,
    demo: dict[str, Any],
    context: BrowserContext,
    camera: Path,
    database_url: str,
) -> None:
    posts = checkin_posts(context)
    page = context.new_page()
    enrol(page, server, demo["employees"][0])
    wait_scanning(page)
    assert page.evaluate(CONTROLLED) is True  # so Background Sync is there to race the page
    show_camera(camera, token_url(server, demo["display"]["id"]))
    context.set_offline(True)
    page.click("#open-history")
    page.locator("#history-status", has_text="Tidak ada sinyal").wait_for()
    page.click("#history-back")
    wait_result(page, "queued")
    show_camera(camera, NOT_PRESENSI)  # back on the scanner, the camera must not scan it again
    page.click("#result-history")  # my attendance lists the scan as waiting
    page.locator("#history-queued li", has_text="menunggu dikirim").wait_for()
    page.click("#history-back")
    page.locator("#screen-scan").wait_for(state="visible")
    assert posts == []

    context.set_offline(False)
    wait_result(page, "ok")
    message = page.inner_text("#result-message")
    assert "terkirim pukul" in message and "Sudah tercatat" not in message
    [row] = records(database_url)
    assert row["status"] == "accepted"
    assert page.evaluate(QUEUE_SIZE) == 0
    # Give a second sender every chance: a fresh sync and an online event deliver nothing more.
    page.evaluate("() => window.dispatchEvent(new Event('online'))")
    page.reload()
    page.locator("#screen-scan").wait_for(state="visible")
    assert page.evaluate(QUEUE_SIZE) == 0
    assert len(posts) == 1, posts


def throttle(
    page: Page, latency_ms: float, down: float = -1, up: float = -1, cpu: float = 1
) -> None:
    cdp = page.context.new_cdp_session(page)
    cdp.send("Network.enable")
    cdp.send(
        "Network.emulateNetworkConditions",
        {
            "offline": False,
            "latency": latency_ms,
            "downloadThroughput": down,
            "uploadThroughput": up,
        },
    )
    if cpu != 1:
        cdp.send("Emulation.setCPUThrottlingRate", {"rate": cpu})


def test_a_7s_round_trip_ends_accepted_without_waiting_for_signal(
    server: LiveServer,
    demo: dict[str, Any],
    context: BrowserContext,
    camera: Path,
    database_url: str,
) -> None:
    posts = checkin_posts(context)
    page = context.new_page()
    enrol(page, server, demo["employees"][1])
    wait_scanning(page)
    assert page.evaluate(CONTROLLED) is True
    show_camera(camera, token_url(server, demo["display"]["id"]))
    page.add_init_script(RECORD_STATES)
    throttle(page, 7000)
    page.reload()  # the shell comes from the worker's cache; the camera opens on the code
    wait_result(page, "sending")
    assert "masih dikirim" in page.inner_text("#result-message")
    wait_result(page, "ok")
    assert page.evaluate("window.__states") == ["sending", "ok"]
    [row] = records(database_url)
    assert row["status"] == "accepted"
    assert page.evaluate(QUEUE_SIZE) == 0
    throttle(page, 0)
    show_camera(camera, NOT_PRESENSI)  # the reloaded scanner must not scan the code again
    page.evaluate("() => window.dispatchEvent(new Event('online'))")
    page.reload()
    page.locator("#screen-scan").wait_for(state="visible")
    assert posts == ["page"]
    assert len(records(database_url)) == 1


# DevTools' Slow 3G: 2 s round trips, 50 KB/s each way; a cheap Android is 6x slower at the CPU.
SLOW_3G = {"latency_ms": 2000, "down": 50 * 1024, "up": 50 * 1024}
NO_BARCODE_DETECTOR = "delete window.BarcodeDetector;"
SLOW_TRIES = int(os.environ.get("PRESENSI_SLOW_3G_TRIES", "2"))


@pytest.mark.parametrize("attempt", range(SLOW_TRIES))
def test_first_scan_after_enrolment_on_slow_3g_and_a_cheap_phone_is_accepted(
    attempt: int,
    server: LiveServer,
    demo: dict[str, Any],
    chromium: Browser,
    camera: Path,
    database_url: str,
) -> None:
    person = demo["employees"][0]
    code = enrolment_code(server, person["nip"])
    show_camera(camera, token_url(server, demo["display"]["id"]))
    context = chromium.new_context(locale="id-ID", viewport={"width": 390, "height": 844})
    context.set_default_timeout(60_000)
    try:
        page = context.new_page()
        page.add_init_script(NO_BARCODE_DETECTOR)
        throttle(page, SLOW_3G["latency_ms"], SLOW_3G["down"], SLOW_3G["up"], cpu=6)
        started = time.monotonic()
        page.goto(server.url + "/s")
        page.locator("#screen-enrol").wait_for(state="visible")
        form_usable = time.monotonic() - started
        page.fill("#enrol-nip", person["nip"])
        page.fill("#enrol-code", code)
        enrolling = time.monotonic()
        page.click("#enrol-submit")
        wait_result(page, "ok")
        scanned = time.monotonic() - enrolling
        assert page.get_attribute("body", "data-decoder") == "wasm"
        print(
            f"slow 3G try {attempt}: form usable {form_usable:.1f} s, enrolled and scanned {scanned:.1f} s"
        )
        [row] = records(database_url)
        assert row["status"] == "accepted", row["flags"]
    finally:
        context.close()
