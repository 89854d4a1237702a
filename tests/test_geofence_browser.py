"""The geofence and the phone's key in Debian's Chromium: the scanner sends the position the
browser gives it (emulated by DevTools: inside the office, outside, permission denied) and the
record's flags match; and browser data copied to another phone carries no usable key."""

# The scanner tests' fixtures are imported by name, and pytest passes them by name.
# ruff: noqa: F401, F811

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from databases import Database

from backend.db import offices
from tests.test_scanner_browser import (
    SET_FOREIGN_KEY,
    TIMEOUT_MS,
    camera,
    chromium,
    demo,
    enrol,
    records,
    run_db,
    scan,
    server,
    token_url,
)

if TYPE_CHECKING:
    from playwright.sync_api import Browser, BrowserContext

    from tests.support.server import LiveServer

pytestmark = [pytest.mark.browser, pytest.mark.slow]
OFFICE = (-6.175392, 106.827153)
GEO_FLAGS = {"outside_geofence", "no_location", "low_accuracy"}

READ_POSITION = """() => new Promise((resolve) => navigator.geolocation.getCurrentPosition(
  (p) => resolve({ ok: true, latitude: p.coords.latitude }),
  (e) => resolve({ ok: false, code: e.code }), { timeout: 3000 }))"""

EXPORT_KEY = """async () => {
  const db = await new Promise((resolve, reject) => {
    const request = indexedDB.open('presensi', 1);
    request.onsuccess = () => resolve(request.result);
    request.onerror = () => reject(request.error);
  });
  const device = await new Promise((resolve, reject) => {
    const get = db.transaction('device').objectStore('device').get('self');
    get.onsuccess = () => resolve(get.result);
    get.onerror = () => reject(get.error);
  });
  const tries = {};
  for (const format of ['jwk', 'pkcs8']) {
    try {
      await crypto.subtle.exportKey(format, device.privateKey);
      tries[format] = 'exported';
    } catch (error) {
      tries[format] = error.name;
    }
  }
  return { extractable: device.privateKey.extractable, deviceId: device.deviceId, tries };
}"""


@pytest.fixture
def fenced(server: LiveServer, demo: dict[str, Any], database_url: str) -> dict[str, Any]:
    async def set_fence(db: Database) -> None:
        await db.execute(
            offices.update()
            .where(offices.c.id == demo["office"]["id"])
            .values(latitude=OFFICE[0], longitude=OFFICE[1], radius_m=150)
        )

    run_db(database_url, set_fence)
    return demo


def phone_context(chromium: Browser, where: dict[str, float] | None) -> BrowserContext:
    """A phone whose browser reports ``where`` (DevTools geolocation emulation) with the
    permission granted; None: the permission is not granted (headless Chromium denies it)."""
    if where is None:
        ctx = chromium.new_context(locale="id-ID")
    else:
        ctx = chromium.new_context(locale="id-ID", geolocation=where, permissions=["geolocation"])
    ctx.set_default_timeout(TIMEOUT_MS)
    return ctx


@pytest.mark.parametrize(
    ("case", "where", "expected"),
    [
        ("inside", {"latitude": -6.17560, "longitude": 106.82740, "accuracy": 12}, set()),
        (
            "outside",
            {"latitude": -6.2100, "longitude": 106.8450, "accuracy": 12},
            {"outside_geofence"},
        ),
        (
            "rough",
            {"latitude": -6.17560, "longitude": 106.82740, "accuracy": 450},
            {"low_accuracy"},
        ),
        ("denied", None, {"no_location"}),
    ],
)
def test_emulated_geolocation_flags_the_record(
    server: LiveServer,
    fenced: dict[str, Any],
    chromium: Browser,
    camera: Path,
    database_url: str,
    case: str,
    where: dict[str, float] | None,
    expected: set[str],
) -> None:
    ctx = phone_context(chromium, where)
    try:
        page = ctx.new_page()
        enrol(page, server, fenced["employees"][0])
        page.locator("#screen-scan").wait_for(state="visible")
        seen = page.evaluate(READ_POSITION)
        if where is None:
            assert seen == {"ok": False, "code": 1}  # PERMISSION_DENIED
        else:
            assert seen == {"ok": True, "latitude": where["latitude"]}
        started = time.monotonic()
        scan(page, camera, token_url(server, fenced["display"]["id"]), "ok")
        assert time.monotonic() - started < 15  # never held back by the position
    finally:
        ctx.close()
    [row] = records(database_url)
    assert row["status"] == "accepted"
    assert {f for f in row["flags"].split(",") if f in GEO_FLAGS} == expected, row["flags"]
    if where is None:
        assert row["latitude"] is None
    else:
        assert (row["latitude"], row["longitude"], row["accuracy_m"]) == (
            where["latitude"],
            where["longitude"],
            where["accuracy"],
        )


def test_browser_data_copied_to_another_phone(
    server: LiveServer,
    demo: dict[str, Any],
    chromium: Browser,
    camera: Path,
    database_url: str,
) -> None:
    """The phone's private key cannot be exported (WebCrypto, non-extractable), so copying the
    browser's data gives another phone the device id without the key: its scans are refused."""
    ctx = phone_context(chromium, None)
    try:
        page = ctx.new_page()
        enrol(page, server, demo["employees"][1])
        page.locator("#screen-scan").wait_for(state="visible")
        found = page.evaluate(EXPORT_KEY)
        assert found["extractable"] is False
        assert found["tries"] == {"jwk": "InvalidAccessError", "pkcs8": "InvalidAccessError"}
        assert found["deviceId"].startswith("d_")
        # What a copy can carry: the device id with some other key.
        assert page.evaluate(SET_FOREIGN_KEY) is True
        scan(page, camera, token_url(server, demo["display"]["id"]), "bad")
        assert "tidak cocok" in page.inner_text("#result-message")  # bad_signature
    finally:
        ctx.close()
    assert records(database_url) == []
