"""Requests end to end on two phones (Debian's Chromium, a real server on 127.0.0.1).

Staff A asks for ``sakit`` tomorrow with a photo of the doctor's letter; supervisor B sees it on
their phone and approves; the monthly recap shows the day excused and the TPP table deducts
nothing for it. A correction of a missing check-out, approved, removes the ``missing_out``
deduction. An undecided request moves up to B's supervisor after the set working days (the
test moves the escalation's clock; no sleeping).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa
from PIL import Image

from backend import clock, recaps, review, tpp
from backend.db import absences, employees, make_database, units
from backend.requests import escalate_due
from tests.support.browser import launch_chromium, require_chromium
from tests.support.server import LiveServer, live_server

if TYPE_CHECKING:
    from databases import Database
    from playwright.sync_api import Browser, BrowserContext, Page

pytestmark = [pytest.mark.browser, pytest.mark.slow]
T = TypeVar("T")
TIMEOUT_MS = 20_000
WIB = ZoneInfo("Asia/Jakarta")


def run_db(database_url: str, work: Callable[[Database], Awaitable[T]]) -> T:
    async def go() -> T:
        db = make_database(database_url)
        await db.connect()
        try:
            return await work(db)
        finally:
            await db.disconnect()

    # Playwright's sync API keeps an event loop running in this thread: use another one.
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, go()).result()


def weekday_after(day: date, step: int = 1) -> date:
    day += timedelta(days=step)
    while day.weekday() >= 5:
        day += timedelta(days=step)
    return day


@pytest.fixture
def server(tmp_path: Path, database_url: str) -> Iterator[LiveServer]:
    require_chromium()
    with live_server(tmp_path, database_url) as live:
        yield live


@pytest.fixture
def chromium() -> Iterator[Browser]:
    require_chromium()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = launch_chromium(playwright)
        yield browser
        browser.close()


def phone(chromium: Browser) -> BrowserContext:
    """A phone in Jakarta, in Indonesian."""
    ctx = chromium.new_context(locale="id-ID", timezone_id="Asia/Jakarta")
    ctx.set_default_timeout(TIMEOUT_MS)
    return ctx


def enrolled(ctx: BrowserContext, server: LiveServer, nip: str) -> Page:
    page = ctx.new_page()
    page.goto(server.url + "/s")
    page.locator("#screen-enrol").wait_for(state="visible")
    page.fill("#enrol-nip", nip)
    page.fill("#enrol-code", server.cli("enrolment-code", nip).split()[-1])
    page.click("#enrol-submit")
    page.locator("#screen-scan").wait_for(state="visible")
    return page


def send_request(page: Page, kind: str, fields: dict[str, str], photo: Path | None = None) -> None:
    page.click("#open-requests")
    page.locator("#screen-requests").wait_for(state="visible")
    page.locator("#req-balance").filter(has_text="Sisa cuti tahunan").wait_for()
    page.select_option("#req-kind", kind)
    for selector, value in fields.items():
        if selector == "#req-scan":
            page.select_option(selector, value)
        else:
            page.fill(selector, value)
    if photo is not None:
        page.set_input_files("#req-photo", str(photo))
    page.click("#req-submit")
    page.locator("#req-message.ok").filter(has_text="Pengajuan terkirim").wait_for(state="visible")
    page.locator("#req-list li[data-request-id]").first.wait_for()


def approve_first(page: Page) -> None:
    page.reload()
    page.locator("#open-approvals").wait_for(state="visible")  # B supervises someone
    page.click("#open-approvals")
    row = page.locator("#appr-list li[data-request-id]").first
    row.wait_for(state="visible")
    row.locator('button[data-decision="approve"]').click()
    page.locator("#appr-status").filter(has_text="Disetujui").wait_for()


def test_two_phones_request_approve_correct_escalate(
    server: LiveServer, chromium: Browser, database_url: str, tmp_path: Path
) -> None:
    demo: dict[str, Any] = json.loads(server.cli("demo", "--json", "--employees", "3"))
    a, b, c = demo["employees"]

    async def organise(db: Database) -> dict[str, int]:
        ids = {
            r["nip"]: r["id"]
            for r in await db.fetch_all(sa.select(employees.c.id, employees.c.nip))
        }
        for who, boss in ((a, b), (b, c)):
            await db.execute(
                employees.update()
                .where(employees.c.id == ids[who["nip"]])
                .values(supervisor_id=ids[boss["nip"]])
            )
        return ids

    ids = run_db(database_url, organise)
    staff_id = ids[a["nip"]]
    today = datetime.now(WIB).date()
    tomorrow = weekday_after(today)
    previous = weekday_after(today, -1)

    letter = tmp_path / "surat-dokter.jpg"
    Image.new("RGB", (320, 240), (240, 240, 230)).save(letter, format="JPEG")

    phone_a, phone_b = phone(chromium), phone(chromium)
    page_a = enrolled(phone_a, server, a["nip"])
    page_b = enrolled(phone_b, server, b["nip"])

    # 1. sakit for tomorrow, with the photo; B approves on their phone.
    send_request(
        page_a,
        "sakit",
        {
            "#req-start": tomorrow.isoformat(),
            "#req-end": tomorrow.isoformat(),
            "#req-reason": "Demam",
        },
        letter,
    )
    assert b["name"] in page_a.inner_text("#req-message")
    page_a.locator('#req-list li[data-status="pending"]').wait_for()
    assert b["name"] in page_a.inner_text("#req-list")
    approve_first(page_b)

    async def month(db: Database, day: date) -> tuple[Any, list[Any]]:
        agency_id = await db.fetch_val(sa.select(units.c.agency_id))
        first = day.replace(day=1)
        last = (first + timedelta(days=32)).replace(day=1) - timedelta(days=1)
        recap = await recaps.compute(
            db,
            agency_id=agency_id,
            start=first,
            end=last,
            now=datetime.now(UTC),
            employee_id=staff_id,
        )
        rules = await tpp.rules_for(db, agency_id)
        mine = recap.employees[0]
        return mine, list(tpp.deductions(mine, rules).deductions)

    recap, deducted = run_db(database_url, lambda db: month(db, tomorrow))
    excused = next(d for d in recap.days if d.day == tomorrow)
    assert excused.status == "sakit"
    assert [d for d in deducted if d.day == tomorrow] == []
    entry = run_db(database_url, lambda db: db.fetch_one(absences.select()))
    assert entry["kind"] == "sakit" and "attachment:att_" in entry["attachment"]

    # 2. A missing check-out on the previous working day: corrected on request.
    run_db(
        database_url,
        lambda db: review.correct(
            db,
            employee_id=staff_id,
            day=previous,
            kind="in",
            at=time(7, 25),
            reason="entered by the operator",
            actor="test",
        ),
    )

    def missing_out() -> bool:
        _recap, found = run_db(database_url, lambda db: month(db, previous))
        return any(d.day == previous and d.code == "missing_out" for d in found)

    assert missing_out()
    page_a.click("#requests-back")
    send_request(
        page_a,
        "correction",
        {
            "#req-date": previous.isoformat(),
            "#req-scan": "out",
            "#req-time": "16:05",
            "#req-reason": "Lupa scan pulang",
        },
    )
    approve_first(page_b)
    assert not missing_out()

    # 3. An izin nobody decides moves up to B's supervisor C after 3 working days.
    later = weekday_after(tomorrow + timedelta(days=7))
    page_a.click("#requests-back")
    send_request(
        page_a,
        "izin",
        {
            "#req-start": later.isoformat(),
            "#req-end": later.isoformat(),
            "#req-reason": "Urusan keluarga",
        },
    )
    with clock.use(datetime.now(UTC) + timedelta(days=2)):
        assert run_db(database_url, lambda db: escalate_due(db, 3)) == []
    with clock.use(datetime.now(UTC) + timedelta(days=8)):  # at least 5 working days later
        moved = run_db(database_url, lambda db: escalate_due(db, 3))
    assert len(moved) == 1
    page_a.click("#requests-back")
    page_a.click("#open-requests")
    pending = page_a.locator('#req-list li[data-status="pending"]')
    pending.filter(has_text=c["name"]).wait_for()
    phone_a.close()
    phone_b.close()


def test_a_request_made_without_signal_is_signed_and_sent_later(
    server: LiveServer, chromium: Browser, database_url: str, tmp_path: Path
) -> None:
    from backend.db import attachments, staff_requests

    demo: dict[str, Any] = json.loads(server.cli("demo", "--json", "--employees", "1"))
    letter = tmp_path / "surat.png"
    Image.new("RGB", (64, 64), (10, 120, 200)).save(letter, format="PNG")
    day = weekday_after(datetime.now(WIB).date(), 1)
    ctx = phone(chromium)
    page = enrolled(ctx, server, demo["employees"][0]["nip"])
    page.click("#open-requests")
    page.locator("#req-balance").filter(has_text="Sisa cuti tahunan").wait_for()

    ctx.set_offline(True)
    page.select_option("#req-kind", "sakit")
    page.fill("#req-start", day.isoformat())
    page.fill("#req-reason", "Demam")
    page.set_input_files("#req-photo", str(letter))
    page.click("#req-submit")
    page.locator("#req-message").filter(has_text="Belum ada sinyal").wait_for()
    page.locator("#req-outbox li").filter(has_text="menunggu sinyal").wait_for()
    count = sa.select(sa.func.count()).select_from(staff_requests)
    assert run_db(database_url, lambda db: db.fetch_val(count)) == 0

    ctx.set_offline(False)  # the 'online' event sends it, signed now
    page.locator("#req-outbox").wait_for(state="hidden")
    row = run_db(database_url, lambda db: db.fetch_one(staff_requests.select()))
    assert row["absence_kind"] == "sakit" and row["status"] == "pending"
    kept = run_db(database_url, lambda db: db.fetch_one(attachments.select()))
    assert row["attachment_id"] == kept["id"] and kept["content_type"] == "image/png"
    ctx.close()
