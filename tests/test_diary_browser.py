"""The phone's "Kegiatan" screen end to end: Debian's Chromium against a real server.

Staff fill a day while offline, it is submitted when the phone is back online; the supervisor
(through the phone API with their own phone's signature) returns it with a note, the staff edits
and resubmits, the supervisor approves; an eselon II official's day is accepted automatically;
a day four working days old is refused. The server runs on the real clock, so the days are
chosen from the server's own calendar; tests/test_activities.py moves the clock itself.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
import sqlalchemy as sa
from databases import Database

from backend import activities
from backend.db import activity_days, employees
from tests.client import Phone
from tests.support.browser import launch_chromium, require_chromium, write_qr_y4m
from tests.support.server import LiveServer, live_server
from tests.test_scanner_browser import enrol, enrolment_code, run_db

if TYPE_CHECKING:
    from playwright.sync_api import Browser, BrowserContext, Page

pytestmark = [pytest.mark.browser, pytest.mark.slow]
TIMEOUT_MS = 20_000


@pytest.fixture
def server(tmp_path: Path, database_url: str) -> Iterator[LiveServer]:
    require_chromium()
    with live_server(tmp_path, database_url) as live:
        yield live


@pytest.fixture
def demo(server: LiveServer, database_url: str) -> dict[str, Any]:
    """Staff 0 reports to 1; 2 is an eselon II.a official (reporting to 1 too)."""
    info: dict[str, Any] = json.loads(server.cli("demo", "--json", "--employees", "3"))
    nips = [e["nip"] for e in info["employees"]]

    async def organise(db: Database) -> list[int]:
        rows = await db.fetch_all(
            sa.select(employees.c.id, employees.c.nip).where(employees.c.nip.in_(nips))
        )
        ids = {r["nip"]: r["id"] for r in rows}
        for i in (0, 2):
            await db.execute(
                employees.update()
                .where(employees.c.id == ids[nips[i]])
                .values(supervisor_id=ids[nips[1]])
            )
        await db.execute(
            employees.update().where(employees.c.id == ids[nips[2]]).values(echelon="II.a")
        )
        return [ids[n] for n in nips]

    info["ids"] = run_db(database_url, organise)
    return info


@pytest.fixture
def chromium(tmp_path: Path) -> Iterator[Browser]:
    require_chromium()
    from playwright.sync_api import sync_playwright

    camera = write_qr_y4m(tmp_path / "camera.y4m", "https://example.invalid/no-code")
    with sync_playwright() as playwright:
        browser = launch_chromium(playwright, fake_video=camera)
        yield browser
        browser.close()


class Answer:
    def __init__(self, status: int, text: str) -> None:
        self.status_code, self.text = status, text

    def json(self) -> Any:
        return json.loads(self.text)


class Http:
    """What tests/client.Phone needs of HTTP, against the live server."""

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url

    def request(
        self, method: str, path: str, *, content: bytes = b"", headers: dict[str, str]
    ) -> Answer:
        assert self.base_url.startswith("http://127.0.0.1")
        req = urllib.request.Request(  # noqa: S310 - the live server on 127.0.0.1
            self.base_url + path, data=content or None, headers=headers, method=method
        )
        try:
            with urllib.request.urlopen(req, timeout=20) as response:  # noqa: S310
                return Answer(response.status, response.read().decode())
        except urllib.error.HTTPError as error:
            return Answer(error.code, error.read().decode())

    def post(self, url: str, *, json: Any = None, headers: Any = None) -> Answer:
        body = b"" if json is None else _dumps(json)
        sent = {"content-type": "application/json", **(headers or {})}
        return self.request("POST", url, content=body, headers=sent)


def _dumps(value: Any) -> bytes:
    return json.dumps(value).encode()


def new_context(chromium: Browser) -> BrowserContext:
    ctx = chromium.new_context(locale="id-ID")
    ctx.set_default_timeout(TIMEOUT_MS)
    return ctx


def working_days(database_url: str, employee_id: int) -> tuple[date, date]:
    """The latest working day up to today, and the working day four working days before today."""

    async def pick(db: Database) -> tuple[date, date]:
        who = await activities.person(db, employee_id)
        today = who.today()
        calendar = await activities._calendar(db, who, today - timedelta(days=40), today)
        recent = today
        while not activities.is_working_day(calendar, who, recent):
            recent -= timedelta(days=1)
        old = today - timedelta(days=1)
        while not (
            activities.is_working_day(calendar, who, old)
            and activities.working_days_between(calendar, who, old, today) == 4
        ):
            old -= timedelta(days=1)
        return recent, old

    return run_db(database_url, pick)


def day_rows(database_url: str) -> list[Any]:
    async def read(db: Database) -> list[Any]:
        return list(await db.fetch_all(sa.select(activity_days).order_by(activity_days.c.id)))

    return run_db(database_url, read)


def open_diary(page: Page, server: LiveServer, person: dict[str, str]) -> None:
    enrol(page, server, person)
    page.locator("#screen-scan").wait_for(state="visible")
    page.click("#open-diary")
    page.locator("#screen-diary").wait_for(state="visible")


def choose(page: Page, day: date) -> None:
    page.fill("#diary-date", day.isoformat())
    page.dispatch_event("#diary-date", "change")
    # The screen marks the day once it is loaded (and the month refreshed).
    page.locator(f'body[data-diary-day="{day.isoformat()}"]').wait_for(state="attached")


def add(page: Page, start: str, end: str, text: str, quantity: str, unit: str) -> None:
    page.fill("#diary-start", start)
    page.fill("#diary-end", end)
    page.fill("#diary-description", text)
    page.fill("#diary-quantity", quantity)
    page.fill("#diary-unit", unit)
    before = page.locator("#diary-entries li button").count()  # an entry has its delete button
    page.click("#diary-add")
    # The entry is kept in IndexedDB first, then drawn and the form cleared: wait for both
    # rather than race the next entry's typing against the reset.
    page.wait_for_function(
        "n => document.querySelectorAll('#diary-entries li button').length > n"
        " && document.getElementById('diary-description').value === ''",
        arg=before,
    )


def wait_status(page: Page, status: str) -> None:
    page.locator(f'body[data-diary-status="{status}"]').wait_for(state="attached")


def test_offline_day_return_resubmit_approve_auto_and_deadline(
    server: LiveServer, demo: dict[str, Any], chromium: Browser, database_url: str
) -> None:
    staff, boss, official = demo["employees"]
    recent, old = working_days(database_url, demo["ids"][0])
    http = Http(server.url)
    supervisor = Phone(http)
    assert supervisor.enrol(boss["nip"], enrolment_code(server, boss["nip"])).status_code == 201

    context = new_context(chromium)
    page = context.new_page()
    open_diary(page, server, staff)
    choose(page, recent)

    # Offline: the day is kept on the phone and marked for sending.
    context.set_offline(True)
    add(page, "07:30", "09:00", "Menyusun surat undangan rapat koordinasi", "3", "surat")
    add(page, "09:00", "11:30", "Menyusun laporan kegiatan bulanan", "1", "laporan")
    assert page.locator("#diary-entries li").count() == 2
    page.click("#diary-submit")
    wait_status(page, "pending")
    assert "Menunggu sinyal" in page.inner_text("#diary-state")
    assert day_rows(database_url) == []

    # Online again: sent as a whole, signed now.
    context.set_offline(False)
    wait_status(page, "submitted")
    (row,) = day_rows(database_url)
    assert (row["status"], row["minutes"], row["day"]) == ("submitted", 240, recent)
    assert "menunggu validasi" in page.inner_text("#diary-state")

    # The supervisor returns it with a note.
    (item,) = supervisor.me("GET", "/api/v1/me/approvals").json()["approvals"]
    assert item["type"] == "activity" and item["date"] == recent.isoformat()
    answer = supervisor.me(
        "POST",
        f"/api/v1/me/approvals/{item['id']}",
        {"decision": "return", "note": "Tuliskan juga rapat pukul 10.00"},
    )
    assert answer.json()["status"] == "returned", answer.text

    # The staff sees the note, edits the day and resubmits.
    page.click("#diary-back")
    page.click("#open-diary")
    wait_status(page, "returned")
    assert "Tuliskan juga rapat pukul 10.00" in page.inner_text("#diary-note")
    page.locator("#diary-entries li button").last.click()  # drop the 09:00–11:30 entry
    add(page, "09:00", "10:00", "Menyusun laporan kegiatan bulanan", "1", "laporan")
    add(page, "10:00", "11:30", "Rapat koordinasi dengan bidang lain", "1", "rapat")
    page.click("#diary-submit")
    wait_status(page, "submitted")
    (item,) = supervisor.me("GET", "/api/v1/me/approvals").json()["approvals"]
    assert [e["start"] for e in item["entries"]] == ["07:30", "09:00", "10:00"]
    approved = supervisor.me("POST", f"/api/v1/me/approvals/{item['id']}", {"decision": "approve"})
    assert approved.json()["status"] == "approved"
    page.click("#diary-back")
    page.click("#open-diary")
    wait_status(page, "approved")
    assert page.locator("#diary-form").is_hidden()  # an approved day is not editable

    # Four working days ago: refused by the server, with its Indonesian sentence.
    choose(page, old)
    wait_status(page, "local")
    add(page, "08:00", "09:00", "Mengarsipkan surat masuk bulan lalu", "10", "surat")
    page.click("#diary-submit")
    page.locator("#diary-error").wait_for(state="visible")
    assert "Batas waktu" in page.inner_text("#diary-error")
    assert [r["day"] for r in day_rows(database_url)] == [recent]

    # An eselon II official's day is accepted on submission.
    other = new_context(chromium)
    official_page = other.new_page()
    open_diary(official_page, server, official)
    choose(official_page, recent)
    add(official_page, "08:00", "10:00", "Memimpin rapat pimpinan daerah", "1", "rapat")
    official_page.click("#diary-submit")
    wait_status(official_page, "accepted_auto")
    assert "diterima otomatis" in official_page.inner_text("#diary-state")
    other.close()
    context.close()
