"""Apel end to end in Debian's Chromium against a real server: during a session the display
shows the apel code and says "Apel pagi" (the code read off a screenshot), a phone scans it with
its (fake) camera, and the recap shows the apel attended and the day's check-in; a daily code
scanned during the session counts as a check-in only."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from datetime import datetime, time, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa
from databases import Database

from backend import apel, tokens
from backend.db import holidays, offices, units, work_schedules
from backend.settings import parse_qr_keys
from tests.support.browser import decode_qr, launch_chromium, require_chromium, write_qr_y4m
from tests.support.server import QR_KEYS, LiveServer, live_server
from tests.test_admin_recaps import html_table
from tests.test_scanner_browser import (
    NOT_PRESENSI,
    TIMEOUT_MS,
    enrolled_page,
    records,
    run_db,
    scan,
    token_url,
)

if TYPE_CHECKING:
    from playwright.sync_api import Browser, BrowserContext

pytestmark = [pytest.mark.browser, pytest.mark.slow]
PERIOD = 60  # one code for the whole test
KEYS = parse_qr_keys(QR_KEYS)


@pytest.fixture
def server(tmp_path: Path, database_url: str) -> Iterator[LiveServer]:
    require_chromium()
    with live_server(tmp_path, database_url, qr_period=str(PERIOD)) as live:
        yield live


@pytest.fixture
def camera(tmp_path: Path) -> Path:
    return write_qr_y4m(tmp_path / "camera.y4m", NOT_PRESENSI)


@pytest.fixture
def chromium(camera: Path) -> Iterator[Browser]:
    require_chromium()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = launch_chromium(playwright, fake_video=camera)
        yield browser
        browser.close()


@pytest.fixture
def context(chromium: Browser) -> Iterator[BrowserContext]:
    ctx = chromium.new_context(locale="id-ID", viewport={"width": 1280, "height": 720})
    ctx.set_default_timeout(TIMEOUT_MS)
    yield ctx
    ctx.close()


def schedule_now(database_url: str, office_id: int) -> tuple[int, str]:
    """An apel session held now for the demo unit; today made a working day whatever the date
    the test runs on (weekday hours for today's weekday, no holiday), so the apel is due."""

    async def go(db: Database) -> tuple[int, str]:
        tz = ZoneInfo(
            await db.fetch_val(sa.select(offices.c.timezone).where(offices.c.id == office_id))
        )
        local = datetime.now(tz)
        today = local.date()
        await db.execute(holidays.update().where(holidays.c.day == today).values(active=False))
        has_hours = await db.fetch_val(
            sa.select(sa.func.count())
            .select_from(work_schedules)
            .where(work_schedules.c.weekday == today.weekday())
        )
        if not has_hours:
            await db.execute(
                work_schedules.insert().values(
                    weekday=today.weekday(), start_time=time(7, 30), end_time=time(16, 0)
                )
            )
        unit_id = await db.fetch_val(sa.select(units.c.id).order_by(units.c.id))
        start = max(datetime.combine(today, time(0), tz), local - timedelta(hours=1))
        end = min(datetime.combine(today, time(23, 59), tz), local + timedelta(hours=1))
        new = apel.parse_new(
            {"office_id": office_id, "name": "Apel Hari Kesadaran Nasional",
             "date": today.isoformat(), "start": start.strftime("%H:%M"),
             "end": end.strftime("%H:%M"), "unit_ids": [unit_id]}
        )  # fmt: skip
        return await apel.create(db, new, allowed_units=sa.true(), actor="test"), today.isoformat()

    return run_db(database_url, go)


def test_the_apel_code_on_the_display_counts_and_a_daily_code_does_not(
    server: LiveServer,
    chromium: Browser,
    context: BrowserContext,
    camera: Path,
    database_url: str,
) -> None:
    demo: dict[str, Any] = json.loads(server.cli("demo", "--json", "--employees", "3"))
    display_id = demo["display"]["id"]
    session_id, today = schedule_now(database_url, demo["office"]["id"])

    # The display, paired through its form, shows the apel code and says so.
    display = context.new_page()
    display.goto(server.url + "/display")
    display.fill("#code", demo["display"]["pairing_code"])
    display.click("button[type=submit]")
    display.wait_for_url(server.url + "/display")
    banner = display.locator("#apel-banner")
    banner.wait_for(state="visible")
    assert "Apel pagi" in banner.inner_text()
    assert "Apel Hari Kesadaran Nasional" in banner.inner_text()
    assert display.get_attribute("body", "data-kind") == "apel"
    display.locator("#qr").wait_for(state="visible")
    texts = decode_qr(display.screenshot())
    assert len(texts) == 1, texts
    prefix = f"{server.url}/s#"
    assert texts[0].startswith(prefix + "a1."), texts[0]
    token = tokens.verify(KEYS, texts[0][len(prefix) :], period=PERIOD, grace_windows=1)
    assert (token.display_id, token.session_id) == (display_id, session_id)
    display.close()

    # A phone scans it: one scan, the check-in and the apel.
    first, second = demo["employees"][0], demo["employees"][1]
    phone = enrolled_page(context, server, first)
    scan(phone, camera, texts[0], "ok")
    assert "Apel tercatat" in phone.inner_text("#result-detail")
    assert phone.get_attribute("#result", "data-apel") == "true"
    [row] = records(database_url)
    assert row["apel_session_id"] == session_id and row["status"] == "accepted"
    phone.close()

    # Another phone (its own browser profile) scans a daily code of the same display during
    # the session: no apel.
    second_phone = chromium.new_context(locale="id-ID")
    second_phone.set_default_timeout(TIMEOUT_MS)
    other = enrolled_page(second_phone, server, second)
    scan(other, camera, token_url(server, display_id), "ok")
    assert "Apel" not in other.inner_text("#result-detail")
    rows = records(database_url)
    assert len(rows) == 2 and rows[1]["apel_session_id"] is None
    second_phone.close()

    # The console: the session's attendance and the month's recap.
    admin = context.new_page()
    admin.goto(server.url + "/admin/login")
    admin.fill("input[name=username]", demo["admin"]["username"])
    admin.fill("input[name=password]", demo["admin"]["password"])
    admin.click("button.primary")
    admin.wait_for_url(re.compile(r".*/admin/$"))
    admin.goto(f"{server.url}/admin/apel/{session_id}?date={today}")
    rows_shown = {r[2]: r for r in html_table(admin.content())[1:]}
    assert rows_shown[first["name"]][4] == "hadir"
    assert rows_shown[second["name"]][4] == "belum selesai"  # the session is still on
    admin.goto(f"{server.url}/admin/recaps/monthly?month={today[:7]}")
    table = html_table(admin.content())
    heading = table[0]
    recap = {r[heading.index("Nama")]: dict(zip(heading, r, strict=False)) for r in table[1:]}
    assert recap[first["name"]]["Apel hadir"] == "1"
    assert recap[first["name"]]["Hadir"] == "1"  # the day's check-in, from the same scan
    assert recap[second["name"]]["Apel hadir"] == "0"
    assert recap[second["name"]]["Hadir"] == "1"
