"""The admin console in Debian's Chromium against a real server: a unit operator signs in, adds
an employee, issues an enrolment code (its QR read back off the screen), creates a display and
watches it come online while a second page pairs it. Screenshots of the main pages at
1366×768 and 390×844 are saved (to $PRESENSI_SCREENSHOTS when set) and checked for layout."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from tests.support.browser import decode_qr, launch_chromium, require_chromium
from tests.support.server import live_server

pytestmark = [pytest.mark.browser, pytest.mark.slow]

PASSWORD = "operator password 1"
NEW_NIP = "199005152015032001"
SIZES = {"desktop": (1366, 768), "phone": (390, 844)}


def check_layout(page: Any, name: str, shots: Path) -> None:
    """Nothing sticks out sideways, the header and main content are on screen; a screenshot."""
    overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
    assert overflow <= 0, f"{name}: the page is {overflow}px wider than the window"
    for selector in ("header.top", "main h1"):
        box = page.locator(selector).first.bounding_box()
        assert box is not None and box["x"] >= 0 and box["width"] > 0, (name, selector)
        assert box["x"] + box["width"] <= page.viewport_size["width"] + 1, (name, selector)
    page.screenshot(path=str(shots / f"{name}.png"), full_page=True)


def test_unit_operator_console(tmp_path: Path) -> None:
    require_chromium()
    from playwright.sync_api import expect, sync_playwright

    shots = Path(os.environ.get("PRESENSI_SCREENSHOTS") or tmp_path / "shots")
    shots.mkdir(parents=True, exist_ok=True)
    database_url = f"sqlite+aiosqlite:///{tmp_path / 'presensi.db'}"
    with live_server(tmp_path, database_url) as server, sync_playwright() as playwright:
        info = json.loads(server.cli("demo", "--employees", "3", "--json"))
        server.cli(
            "admin", "create", "--username", "tu.kominfo", "--role", "unit_operator",
            "--unit-id", "1", "--password", PASSWORD,
        )  # fmt: skip
        browser = launch_chromium(playwright)
        try:
            context = browser.new_context(viewport={"width": 1366, "height": 768}, locale="id-ID")
            page = context.new_page()
            problems: list[str] = []
            page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
            page.on("pageerror", lambda e: problems.append(str(e)))
            page.on(
                "response",
                lambda r: problems.append(f"{r.status} {r.url}") if r.status >= 400 else None,
            )

            page.goto(server.url + "/admin/")
            assert "/admin/login" in page.url
            expect(page.locator("h1")).to_have_text("Masuk")
            check_layout(page, "login-desktop", shots)
            page.fill("input[name=username]", "tu.kominfo")
            page.fill("input[name=password]", PASSWORD)
            page.click("button.primary")
            expect(page.locator("h1")).to_have_text("Ringkasan")
            check_layout(page, "overview-desktop", shots)

            # Add an employee.
            page.click("nav.menu >> text=Pegawai")
            expect(page.locator("h1")).to_have_text("Pegawai")
            form = page.locator("#new form")
            form.locator("input[name=nip]").fill(NEW_NIP)
            form.locator("input[name=name]").fill("Sari Wulandari")
            form.locator("select[name=kind]").select_option("pppk")
            form.locator("button.primary").click()
            expect(page.locator("h1")).to_contain_text("Sari Wulandari")
            expect(page.locator(".notice")).to_have_text("Dibuat.")
            employee_url = page.url

            # Issue an enrolment code: shown once, with a QR of the scanner's enrolment link.
            page.click("text=Buat kode pendaftaran")
            code = page.locator("[data-testid=enrolment-code]").inner_text()
            assert len(code) == 8 and code.isalnum()
            check_layout(page, "enrolment-code-desktop", shots)
            texts = decode_qr(page.locator("[data-testid=enrolment-qr]").screenshot())
            assert texts == [f"{server.url}/s#enrol={NEW_NIP}"]
            assert code not in texts[0]

            # Create a display and keep the list open while a second page pairs it.
            page.goto(server.url + "/admin/displays")
            form = page.locator("form.row").last
            form.locator("input[name=name]").fill("Layar Aula")
            form.locator("button.primary").click()
            pairing_code = page.locator("[data-testid=pairing-code]").inner_text()
            check_layout(page, "pairing-code-desktop", shots)
            page.goto(server.url + "/admin/displays")
            row = page.locator("tr", has_text="Layar Aula")
            display_id = row.get_attribute("data-display-id")
            badge = row.locator("[data-field=state]")
            expect(badge).to_have_text("menunggu pemasangan")

            screen = context.new_page()
            screen.goto(server.url + "/display")
            screen.fill("#code", pairing_code)
            screen.click("button[type=submit]")
            screen.locator("#qr").wait_for(state="visible")

            # The list updates itself: no reload.
            expect(badge).to_have_text("daring", timeout=15_000)
            expect(badge).to_have_class("badge online")
            expect(row.locator("[data-field=last_seen_ip]")).to_have_text("127.0.0.1")
            check_layout(page, "displays-desktop", shots)
            screen.close()
            assert display_id and int(display_id) != info["display"]["id"]

            # The same pages on a phone-sized screen.
            page.set_viewport_size({"width": 390, "height": 844})
            for name, url in (
                ("overview", "/admin/"),
                ("employees", "/admin/employees"),
                ("employee", employee_url),
                ("displays", "/admin/displays"),
                ("account", "/admin/account"),
            ):
                page.goto(url if url.startswith("http") else server.url + url)
                check_layout(page, f"{name}-phone", shots)
            page.set_viewport_size({"width": 1366, "height": 768})
            page.goto(server.url + "/admin/employees")
            check_layout(page, "employees-desktop", shots)
            page.goto(employee_url)
            check_layout(page, "employee-desktop", shots)
            assert problems == [], problems  # no CSP violations, no script errors
        finally:
            browser.close()
