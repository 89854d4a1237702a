"""What the fault tests share: a seeded agency with enrolled phones, check-ins against a real
server, and the proof that every acknowledged check-in is stored.

    site = asyncio.run(seed_site(url, secret_key, phones=50))
    with live_server(tmp_path, url) as server, httpx.Client(base_url=server.url) as http:
        answers = [site.check_in(http, phone) for phone in site.phones]
        assert asyncio.run(missing_records(url, acknowledged(answers))) == []
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from databases import Database

from backend import devices, tokens
from backend.accounts import create_admin
from backend.db import checkins, displays, employees, utcnow
from backend.demo import ensure_demo
from backend.settings import parse_qr_keys
from display_server.pairing import pair
from tests.client import Phone
from tests.conftest import _empty
from tests.support.admin import PASSWORD

SECRET_KEY = b"test-secret-key-0123456789"
ADMIN = "super"  # a super admin with tests.support.admin.PASSWORD
PHONE_TIMEOUT = 6.0  # the PWA gives up on a request after this long and queues the scan


def qr_keys() -> tuple[tuple[str, bytes], ...]:
    from tests.support.server import QR_KEYS

    return parse_qr_keys(QR_KEYS)


@dataclass
class Site:
    display_id: int
    phones: list[Phone]
    nips: list[str]
    credential: str  # the display's, for its websocket
    qr_period: int = 15

    def token(self, offset: int = 0) -> str:
        window = tokens.current_window(self.qr_period) + offset
        return tokens.issue(qr_keys(), self.display_id, window)

    def check_in(self, http: Any, phone: Phone, offset: int = 0) -> Any:
        phone.http = http
        return phone.check_in(self.token(offset))


async def seed_site(url: str, *, phones: int, empty: bool = True) -> Site:
    """The demo agency with ``phones`` employees, each with an enrolled phone, and a display
    that was online a moment ago (so scans carry no "display offline" flag)."""
    if empty:
        await _empty(url)
    db = Database(url)
    await db.connect()
    try:
        info = await ensure_demo(db, SECRET_KEY, phones)
        await db.execute(displays.update().values(last_seen_at=utcnow(), last_seen_ip="127.0.0.1"))
        enrolled = []
        for person in info["employees"]:
            employee_id = await db.fetch_val(
                sa.select(employees.c.id).where(employees.c.nip == person["nip"])
            )
            code = await devices.issue_enrolment_code(
                db, SECRET_KEY, employee_id, ttl=600, created_by="test"
            )
            phone = Phone(None)  # type: ignore[arg-type]  # given an HTTP client per test
            device = await devices.enrol(
                db, SECRET_KEY, nip=person["nip"], code=code, jwk=phone.jwk(), user_agent="", ip=""
            )
            phone.device_id = device.device_id
            enrolled.append(phone)
        _, credential = await pair(db, SECRET_KEY, info["display"]["pairing_code"], ip="")
        await create_admin(db, username=ADMIN, password=PASSWORD, role="super_admin", actor="test")
    finally:
        await db.disconnect()
    nips = [p["nip"] for p in info["employees"]]
    return Site(info["display"]["id"], enrolled, nips, credential)


async def enrolment_code(url: str, nip: str) -> str:
    """A fresh enrolment code for the employee (a new phone: "ganti HP")."""
    db = Database(url)
    await db.connect()
    try:
        employee_id = await db.fetch_val(sa.select(employees.c.id).where(employees.c.nip == nip))
        return await devices.issue_enrolment_code(
            db, SECRET_KEY, employee_id, ttl=600, created_by="test"
        )
    finally:
        await db.disconnect()


def acknowledged(answers: list[Any]) -> set[int]:
    """The record ids of the check-ins the server acknowledged (201 accepted, 200 repeat)."""
    return {a.json()["checkin_id"] for a in answers if a.status_code in (200, 201, 202)}


async def missing_records(url: str, ids: set[int]) -> list[int]:
    """Acknowledged record ids that are not in the database (must always be empty)."""
    db = Database(url)
    await db.connect()
    try:
        stored = {r["id"] for r in await db.fetch_all(sa.select(checkins.c.id))}
    finally:
        await db.disconnect()
    return sorted(ids - stored)
