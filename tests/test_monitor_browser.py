"""The live monitor in Debian's Chromium against a real server: a scan made by a phone appears in
the latest-scans table and in the unit's count without the page reloading."""

from __future__ import annotations

import json
import sqlite3
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import httpx2 as httpx
import pytest

from backend import tokens
from backend.settings import load_settings
from tests.client import Phone
from tests.support.browser import launch_chromium, require_chromium
from tests.support.server import live_server

pytestmark = [pytest.mark.browser, pytest.mark.slow]
PASSWORD = "monitor password 1"


def roster_now(path: Path, nip: str) -> None:
    """Put the employee on a shift that started half an hour ago, so today is a working day for
    them whatever the weekday (the unit's count of who is present depends on it)."""
    now = datetime.now(ZoneInfo("Asia/Jakarta"))
    begins = max(now - timedelta(minutes=30), now.replace(hour=0, minute=0))  # today's shift
    start = begins.time().replace(second=0, microsecond=0)
    end = (begins + timedelta(hours=6)).time().replace(second=0, microsecond=0)
    day = now.date()
    with sqlite3.connect(path) as db:
        db.execute(
            "INSERT INTO shifts (id, agency_id, code, name, start_time, end_time, active, created_at)"
            " VALUES (900, 1, 'T', 'Test', ?, ?, 1, '2026-01-01 00:00:00.000000')",
            (start.isoformat() + ".000000", end.isoformat() + ".000000"),
        )
        db.execute(
            "INSERT INTO roster_entries (employee_id, day, shift_id, updated_by, updated_at)"
            " SELECT id, ?, 900, 'test', '2026-01-01 00:00:00.000000' FROM employees WHERE nip = ?",
            (day.isoformat(), nip),
        )


def test_new_scan_appears_without_reload(tmp_path: Path) -> None:
    require_chromium()
    from playwright.sync_api import expect, sync_playwright

    database_url = f"sqlite+aiosqlite:///{tmp_path / 'presensi.db'}"
    with live_server(tmp_path, database_url) as server, sync_playwright() as playwright:
        info = json.loads(server.cli("demo", "--employees", "3", "--json"))
        server.cli(
            "admin", "create", "--username", "tu.monitor", "--role", "unit_operator",
            "--unit-id", "1", "--password", PASSWORD,
        )  # fmt: skip
        person = info["employees"][0]
        code = server.cli("enrolment-code", person["nip"]).split()[-1]
        roster_now(tmp_path / "presensi.db", person["nip"])
        browser = launch_chromium(playwright)
        try:
            page = browser.new_context(
                viewport={"width": 1366, "height": 768}, locale="id-ID"
            ).new_page()
            problems: list[str] = []
            page.on("pageerror", lambda e: problems.append(str(e)))
            page.goto(server.url + "/admin/login")
            page.fill("input[name=username]", "tu.monitor")
            page.fill("input[name=password]", PASSWORD)
            page.click("button.primary")
            page.goto(server.url + "/admin/monitor")
            expect(page.locator("h1")).to_have_text("Pantauan langsung")
            expect(page.locator("[data-live-status]")).to_have_text(
                "langsung"
            )  # the stream is open
            unit = page.locator("tr[data-unit]").first
            expect(unit.locator("[data-field=present]")).to_have_text("0")
            page.evaluate("window.__sameDocument = true")

            settings = load_settings(server.env)
            with httpx.Client(base_url=server.url) as http:
                phone = Phone(http)
                assert phone.enrol(person["nip"], code).status_code == 201
                window = tokens.current_window(settings.qr_period)
                token = tokens.issue(settings.qr_keys, info["display"]["id"], window)
                response = phone.check_in(token)
                assert response.status_code == 201, response.text

            first_name = person["name"].split()[0]
            newest = page.locator("[data-latest] tr").first
            expect(newest).to_contain_text(first_name)
            expect(newest).to_contain_text("Kantor Diskominfo")
            expect(unit.locator("[data-field=present]")).to_have_text("1")  # counts follow
            assert page.evaluate("window.__sameDocument") is True  # no reload happened
            assert problems == []
        finally:
            browser.close()
