"""The scanner PWA end to end: Debian's Chromium, a fake camera, a real server on 127.0.0.1.

Headless Chromium on Linux has no BarcodeDetector, so these tests exercise the WASM fallback
decoder. The fake camera plays a Y4M file; Chromium opens it each time the page starts the
camera, so a test puts the next QR code in front of the "camera" by replacing the file while the
camera is closed.
"""

from __future__ import annotations

import asyncio
import json
import os
import time
from collections.abc import Awaitable, Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar
from zoneinfo import ZoneInfo

import pytest
from databases import Database

from backend import tokens
from backend.db import checkins
from backend.settings import parse_qr_keys
from display_server.pairing import CREDENTIAL_COOKIE, pair
from tests.support.browser import launch_chromium, read_qr, require_chromium, write_qr_y4m
from tests.support.server import QR_KEYS, LiveServer, live_server

if TYPE_CHECKING:
    from playwright.sync_api import Browser, BrowserContext, Page

pytestmark = [pytest.mark.browser, pytest.mark.slow]
T = TypeVar("T")
TIMEOUT_MS = 20_000
NOT_PRESENSI = "https://example.invalid/not-a-presensi-code"
# Long windows keep one token valid through a whole test; the pending-review test uses short ones.
PERIOD = 60

SET_FOREIGN_KEY = """async () => {
  // Keep the device id but swap the private key for one the server never saw.
  const { privateKey } = await crypto.subtle.generateKey(
    { name: 'ECDSA', namedCurve: 'P-256' }, false, ['sign', 'verify']);
  const db = await new Promise((resolve, reject) => {
    const request = indexedDB.open('presensi', 1);
    request.onsuccess = () => resolve(request.result);
    request.onerror = () => reject(request.error);
  });
  return new Promise((resolve, reject) => {
    const tx = db.transaction('device', 'readwrite');
    const store = tx.objectStore('device');
    store.get('self').onsuccess = (event) => store.put({ ...event.target.result, privateKey }, 'self');
    tx.oncomplete = () => resolve(true);
    tx.onerror = () => reject(tx.error);
  });
}"""


# Resolves once the service worker controls the page (an event, not a poll: the page's CSP
# forbids the string evaluation wait_for_function would need).
CONTROLLED = """() => navigator.serviceWorker.controller !== null || new Promise((resolve) =>
  navigator.serviceWorker.addEventListener('controllerchange', () => resolve(true), { once: true }))"""


def run_db(database_url: str, work: Callable[[Database], Awaitable[T]]) -> T:
    async def go() -> T:
        db = Database(database_url)
        await db.connect()
        try:
            return await work(db)
        finally:
            await db.disconnect()

    # Playwright's sync API keeps an event loop running in this thread: use another one.
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, go()).result()


def records(database_url: str) -> list[Any]:
    return run_db(database_url, lambda db: db.fetch_all(checkins.select().order_by(checkins.c.id)))


def token_url(server: LiveServer, display_id: int, offset: int = 0, period: int = PERIOD) -> str:
    window = tokens.current_window(period) + offset
    return tokens.scan_url(server.url, tokens.issue(parse_qr_keys(QR_KEYS), display_id, window))


def show_camera(video: Path, text: str) -> None:
    """Put a QR code in front of the fake camera; takes effect the next time it is opened."""
    fresh = video.with_suffix(".next.y4m")
    write_qr_y4m(fresh, text)
    os.replace(fresh, video)  # a camera still reading the old file keeps its own copy


def display_qr_text(browser: Browser, server: LiveServer, database_url: str, code: str) -> str:
    """Open the real display page, paired with the demo's pairing code, and read its QR.

    Pairing goes through display_server.pairing rather than the form: this test is about the
    code on the screen, tests/test_display_browser.py covers the form.
    """

    async def paired(db: Database) -> str:
        _display, credential = await pair(
            db, server.env["PRESENSI_SECRET_KEY"].encode(), code, ip="127.0.0.1"
        )
        return credential

    credential = run_db(database_url, paired)
    context = browser.new_context(viewport={"width": 1280, "height": 720})
    context.add_cookies(
        [
            {
                "name": CREDENTIAL_COOKIE,
                "value": credential,
                "domain": "127.0.0.1",
                "path": "/display",
            }
        ]
    )
    page = context.new_page()
    page.set_default_timeout(TIMEOUT_MS)
    page.goto(server.url + "/display")
    qr = page.locator("#qr")
    qr.wait_for(state="visible")
    texts = read_qr(qr)
    context.close()
    assert len(texts) == 1, texts
    return texts[0]


@pytest.fixture
def server(tmp_path: Path, database_url: str) -> Iterator[LiveServer]:
    require_chromium()
    with live_server(tmp_path, database_url, qr_period=str(PERIOD)) as live:
        yield live


@pytest.fixture
def demo(server: LiveServer) -> dict[str, Any]:
    info: dict[str, Any] = json.loads(server.cli("demo", "--json", "--employees", "3"))
    return info


@pytest.fixture
def camera(tmp_path: Path) -> Path:
    return write_qr_y4m(tmp_path / "camera.y4m", NOT_PRESENSI)


@pytest.fixture
def chromium(camera: Path) -> Iterator[Browser]:
    require_chromium()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = launch_chromium(playwright, fake_video=camera)
        yield chromium
        chromium.close()


@pytest.fixture
def context(chromium: Browser) -> Iterator[BrowserContext]:
    ctx = chromium.new_context(locale="id-ID")
    ctx.set_default_timeout(TIMEOUT_MS)
    yield ctx
    ctx.close()


def enrolment_code(server: LiveServer, nip: str) -> str:
    return server.cli("enrolment-code", nip).split()[-1]


def enrol(page: Page, server: LiveServer, person: dict[str, str]) -> None:
    page.goto(server.url + "/s")
    page.locator("#screen-enrol").wait_for(state="visible")
    page.fill("#enrol-nip", person["nip"])
    page.fill("#enrol-code", enrolment_code(server, person["nip"]))
    page.click("#enrol-submit")


def wait_scanning(page: Page) -> None:
    """The scan screen is up with its camera open and its decoder loaded."""
    page.locator("#screen-scan").wait_for(state="visible")
    page.locator("body[data-decoder]").wait_for(state="attached")


def wait_result(page: Page, state: str) -> None:
    page.locator(f'#result[data-state="{state}"]').wait_for(state="visible")


def enrolled_page(context: BrowserContext, server: LiveServer, person: dict[str, str]) -> Page:
    """A new phone, enrolled for ``person`` and on its scan screen."""
    page = context.new_page()
    enrol(page, server, person)
    page.locator("#screen-scan").wait_for(state="visible")
    return page


def scan(page: Page, camera: Path, qr_text: str, outcome: str) -> None:
    """Point the camera at ``qr_text``, open the camera again and wait for ``outcome``."""
    show_camera(camera, qr_text)
    page.reload()  # opens the camera again, now on that code
    wait_result(page, outcome)


def test_enrol_scan_the_display_and_repeat(
    server: LiveServer,
    demo: dict[str, Any],
    chromium: Browser,
    context: BrowserContext,
    camera: Path,
    database_url: str,
) -> None:
    person = demo["employees"][0]
    qr_text = display_qr_text(chromium, server, database_url, demo["display"]["pairing_code"])
    assert qr_text.startswith(server.url + "/s#v1.")
    page = enrolled_page(context, server, person)
    assert person["name"] in page.inner_text("#owner")
    assert records(database_url) == []

    scan(page, camera, qr_text, "ok")
    assert page.inner_text("#result-name") == person["name"]
    assert page.get_attribute("body", "data-decoder") == "wasm"  # no BarcodeDetector here
    [row] = records(database_url)
    assert row["status"] == "accepted"
    at = row["at"] if row["at"].tzinfo else row["at"].replace(tzinfo=ZoneInfo("UTC"))
    assert page.inner_text("#result-time") == at.astimezone(ZoneInfo("Asia/Jakarta")).strftime(
        "%H:%M"
    )
    kind = "Masuk" if row["kind"] == "in" else "Pulang"
    assert kind in page.inner_text("#result-detail")

    page.click("#scan-again")  # the same code, the same window: the same record
    page.locator("#screen-scan").wait_for(state="visible")
    wait_result(page, "ok")
    assert "Sudah tercatat" in page.inner_text("#result-message")
    assert [r["id"] for r in records(database_url)] == [row["id"]]

    page.click("#result-history")
    page.locator("#history-table").wait_for(state="visible")
    assert page.locator("#history-rows tr").count() == 1
    assert "Kehadiran saya" in page.inner_text("#screen-history h2")


def test_expired_code_says_scan_again(
    server: LiveServer,
    demo: dict[str, Any],
    context: BrowserContext,
    camera: Path,
    database_url: str,
) -> None:
    page = enrolled_page(context, server, demo["employees"][0])
    scan(page, camera, token_url(server, demo["display"]["id"], offset=-3), "bad")
    assert "kedaluwarsa" in page.inner_text("#result-message")
    assert "Pindai lagi" in page.inner_text("#result-message")
    assert records(database_url) == []

    page.click("#lang")  # English on demand
    assert "expired" in page.inner_text("#result-message")


def test_a_key_that_is_not_the_enrolled_one_is_refused(
    server: LiveServer,
    demo: dict[str, Any],
    context: BrowserContext,
    camera: Path,
    database_url: str,
) -> None:
    page = enrolled_page(context, server, demo["employees"][1])
    assert page.evaluate(SET_FOREIGN_KEY) is True
    scan(page, camera, token_url(server, demo["display"]["id"]), "bad")
    assert "tidak cocok" in page.inner_text("#result-message")
    assert "kode pendaftaran baru" in page.inner_text("#result-message")
    assert records(database_url) == []
    page.click("#scan-again")  # the phone forgot the refused key: enrolment is next
    page.locator("#screen-enrol").wait_for(state="visible")


def test_offline_scan_is_queued_and_delivered_when_back_online(
    server: LiveServer,
    demo: dict[str, Any],
    context: BrowserContext,
    camera: Path,
    database_url: str,
) -> None:
    page = context.new_page()
    enrol(page, server, demo["employees"][0])
    wait_scanning(page)
    show_camera(camera, token_url(server, demo["display"]["id"]))
    context.set_offline(True)  # the app learned the server's clock while it was online
    page.click("#open-history")
    page.locator("#history-status", has_text="Tidak ada sinyal").wait_for()
    page.click("#history-back")  # reopens the camera on the code, signs the scan offline
    wait_result(page, "queued")
    assert "disimpan" in page.inner_text("#result-message")
    assert page.locator("#queue-banner").is_visible()
    assert records(database_url) == []

    context.set_offline(False)
    wait_result(page, "ok")
    [row] = records(database_url)
    assert row["status"] == "accepted"
    assert page.locator("#queue-banner").is_hidden()


def test_offline_scan_delivered_after_its_window_is_pending_review(
    tmp_path: Path, database_url: str, context: BrowserContext, camera: Path
) -> None:
    period = 2
    with live_server(tmp_path, database_url, qr_period=str(period)) as short:
        info = json.loads(short.cli("demo", "--json", "--employees", "1"))
        page = context.new_page()
        enrol(page, short, info["employees"][0])
        wait_scanning(page)
        window = tokens.current_window(period)
        show_camera(camera, token_url(short, info["display"]["id"], period=period))
        context.set_offline(True)
        page.click("#open-history")
        page.click("#history-back")  # reopens the camera, signs the scan while offline
        wait_result(page, "queued")
        # The event here is the server's clock passing the code's last valid window.
        time.sleep(max(0.0, (window + 2) * period - time.time()) + 0.2)
        context.set_offline(False)
        wait_result(page, "pending")
        assert "menunggu pemeriksaan" in page.inner_text("#result-message")
        [row] = records(database_url)
        assert row["status"] == "pending_review"
        assert "offline_submission" in row["flags"]


def test_native_camera_path_enrols_then_checks_in(
    server: LiveServer, demo: dict[str, Any], context: BrowserContext, database_url: str
) -> None:
    person = demo["employees"][2]
    url = token_url(server, demo["display"]["id"])
    page = context.new_page()
    page.goto(url)  # what a phone's own camera app opens
    page.locator("#enrol-note").wait_for(state="visible")
    assert "#" not in page.url  # the token left the address bar
    assert page.evaluate("location.hash") == ""
    page.fill("#enrol-nip", person["nip"])
    page.fill("#enrol-code", enrolment_code(server, person["nip"]))
    page.click("#enrol-submit")
    wait_result(page, "ok")  # the token from the address bar was sent right after enrolment
    assert page.inner_text("#result-name") == person["name"]
    [row] = records(database_url)

    enrolled = context.new_page()  # the camera app opens the code again, on an enrolled phone
    enrolled.goto(url)
    wait_result(enrolled, "ok")
    assert "Sudah tercatat" in enrolled.inner_text("#result-message")
    assert enrolled.url == server.url + "/s"
    assert [r["id"] for r in records(database_url)] == [row["id"]]


def test_enrolment_qr_prefills_the_nip(
    server: LiveServer, demo: dict[str, Any], context: BrowserContext
) -> None:
    nip = demo["employees"][0]["nip"]
    page = context.new_page()
    page.goto(f"{server.url}/s#enrol={nip}")
    page.locator("#screen-enrol").wait_for(state="visible")
    assert page.input_value("#enrol-nip") == nip
    assert page.evaluate("document.activeElement.id") == "enrol-code"
    assert "#" not in page.url


def test_service_worker_serves_the_shell_offline(
    tmp_path: Path, database_url: str, context: BrowserContext
) -> None:
    page = context.new_page()
    with live_server(tmp_path, database_url) as live:
        page.goto(live.url + "/s")
        assert page.evaluate(CONTROLLED) is True
        scope = page.evaluate("navigator.serviceWorker.ready.then((r) => r.scope)")
        assert scope == live.url + "/s"
        url = live.url
    # The server is gone: only the service worker's cache can answer now.
    page.reload()
    page.locator("#screen-enrol").wait_for(state="visible")
    assert page.inner_text("#enrol-submit") == "Daftarkan"
    page.goto(url + "/s/history")
    assert "Tidak ada koneksi" in page.inner_text("h2")
