"""The scanner's fallback decoder on a phone without BarcodeDetector: always in the app's cache,
even when enrolment finished before the service worker took control; never a hang offline."""

# The scanner tests' fixtures are imported by name, and pytest passes them by name.
# ruff: noqa: F401, F811

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from tests.support.server import LiveServer
from tests.test_scanner_browser import (
    CONTROLLED,
    camera,
    chromium,
    context,
    demo,
    enrol,
    records,
    server,
    show_camera,
    token_url,
    wait_result,
)

if TYPE_CHECKING:
    from playwright.sync_api import BrowserContext, Page

pytestmark = [pytest.mark.browser, pytest.mark.slow]

# The page registers its service worker only when the test says so: this is a phone whose
# enrolment finished before the worker was installed (likely on Slow 3G).
HOLD_SERVICE_WORKER = """
(() => {
  const register = ServiceWorkerContainer.prototype.register;
  ServiceWorkerContainer.prototype.register = function (...args) {
    return new Promise((resolve) => {
      window.__registerServiceWorker = () => resolve(register.apply(this, args));
    });
  };
})();
"""
REGISTER = "() => { window.__registerServiceWorker(); return true; }"


def early_enrolment(context: BrowserContext, server: LiveServer, person: dict[str, str]) -> Page:
    page = context.new_page()
    page.add_init_script(HOLD_SERVICE_WORKER)
    enrol(page, server, person)
    page.locator("#screen-scan").wait_for(state="visible")
    assert page.evaluate("navigator.serviceWorker.controller") is None
    return page


def test_offline_after_early_enrolment_still_scans(
    server: LiveServer,
    demo: dict[str, Any],
    context: BrowserContext,
    camera: Path,
    database_url: str,
) -> None:
    errors: list[str] = []
    page = early_enrolment(context, server, demo["employees"][0])
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.locator("body[data-decoder='wasm']").wait_for(state="attached")
    assert page.get_attribute("body", "data-decoder-thread") == "worker"  # off the main thread
    # The camera shows a QR that is not Presensi's: the decoder reads frames.
    page.locator("#scan-status", has_text="bukan kode QR Presensi").wait_for()
    page.goto(server.url + "/s?debug=1")  # the overlay with the decode time per frame
    page.locator("#debug", has_text="wasm/worker").wait_for()
    assert " ms" in page.inner_text("#debug")
    assert page.evaluate(REGISTER) is True
    assert page.evaluate(CONTROLLED) is True

    show_camera(camera, token_url(server, demo["display"]["id"]))
    context.set_offline(True)
    page.reload()  # controlled by the worker now, with no network at all
    wait_result(page, "queued")
    assert errors == []
    context.set_offline(False)
    wait_result(page, "ok")
    assert len(records(database_url)) == 1


def test_no_decoder_offline_says_so_at_once(
    server: LiveServer,
    demo: dict[str, Any],
    context: BrowserContext,
) -> None:
    errors: list[str] = []
    context.route("**/s/static/vendor/**", lambda route: route.abort())
    page = early_enrolment(context, server, demo["employees"][0])
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.locator("#scan-status", has_text="aplikasi kamera").wait_for()
    assert page.evaluate(REGISTER) is True
    assert page.evaluate(CONTROLLED) is True
    context.set_offline(True)
    started = time.monotonic()
    page.reload()
    status = page.locator("#scan-status", has_text="tidak ada sinyal")
    status.wait_for()
    assert time.monotonic() - started < 5
    assert "aplikasi kamera HP" in status.inner_text()
    assert page.get_attribute("body", "data-decoder") is None
    assert errors == []
