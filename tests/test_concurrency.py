"""Every write path under concurrency, on a real server process, on SQLite and PostgreSQL.

Each test fires many requests at once (httpx with asyncio) and asserts two things: no answer is
a 5xx, and the database ends in the intended state (one winner where there can be only one).
Before backend/db.py made every transaction a write transaction from its first statement,
SQLite answered most of these with 500 "database is locked".
"""

from __future__ import annotations

import asyncio
import re
import time
from collections import Counter
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import httpx2 as httpx
import pytest
import sqlalchemy as sa

from backend import tokens
from backend.accounts import create_admin
from backend.admin.security import LOGIN_FAILURES_PER_ACCOUNT, hash_api_token
from backend.db import (
    admin_users,
    api_tokens,
    checkin_reviews,
    checkins,
    devices,
    displays,
    employees,
    holidays,
    make_database,
    units,
    utcnow,
)
from backend.demo import demo_nip, ensure_demo
from backend.devices import issue_enrolment_code
from backend.settings import Settings, load_settings
from display_server.pairing import CREDENTIAL_COOKIE, issue_pairing_code, pair
from tests.client import Phone
from tests.support.server import LiveServer, live_server

pytestmark = pytest.mark.slow
PASSWORD = "correct horse battery"
API_TOKEN = "pst_" + "c" * 43
CONCURRENCY = 64
LIMITS = {"enrol_limit_per_ip": "100000", "qr_period": "300"}


def settings_of(server: LiveServer) -> Settings:
    return load_settings({k: v for k, v in server.env.items() if k.startswith("PRESENSI_")})


async def seed(server: LiveServer, database_url: str, n_employees: int) -> dict[str, Any]:
    """The demo agency with ``n_employees``, its display paired (online), an enrolment code
    for everyone, a super admin API token and an agency admin ``agency``."""
    settings = settings_of(server)
    db = make_database(database_url)
    await db.connect()
    try:
        info = await ensure_demo(db, settings.secret_key, n_employees)
        await pair(db, settings.secret_key, info["display"]["pairing_code"], ip="127.0.0.1")
        unit = await db.fetch_one(units.select().order_by(units.c.id))
        assert unit is not None
        people = await db.fetch_all(sa.select(employees.c.id, employees.c.nip))
        codes = {}
        for person in people:
            codes[person["nip"]] = await issue_enrolment_code(
                db, settings.secret_key, person["id"], ttl=3600, created_by="test"
            )
        admin_id = await create_admin(
            db,
            username="agency",
            password=PASSWORD,
            role="agency_admin",
            agency_id=unit["agency_id"],
            actor="test",
        )
        super_id = await db.fetch_val(
            sa.select(admin_users.c.id).where(admin_users.c.username == "admin")
        )
        await db.execute(
            api_tokens.insert().values(
                name="test",
                token_hash=hash_api_token(settings.secret_key, API_TOKEN),
                prefix=API_TOKEN[:10],
                role="super_admin",
                created_by=super_id,
                created_at=utcnow(),
            )
        )
    finally:
        await db.disconnect()
    return {
        "settings": settings,
        "display_id": info["display"]["id"],
        "codes": codes,
        "people": {p["nip"]: p["id"] for p in people},
        "unit_id": unit["id"],
        "agency_id": unit["agency_id"],
        "admin_id": admin_id,
    }


@pytest.fixture
def server(tmp_path: Path, database_url: str) -> Iterator[LiveServer]:
    with live_server(tmp_path, database_url, **LIMITS) as running:
        yield running
    tracebacks = [line for line in running.log if line.startswith("Traceback")]
    assert not tracebacks, "\n".join(running.log[-60:])


async def query(database_url: str, statement: Any) -> list[Any]:
    db = make_database(database_url)
    await db.connect()
    try:
        return list(await db.fetch_all(statement))
    finally:
        await db.disconnect()


def no_5xx(statuses: list[int]) -> None:
    assert all(s < 500 for s in statuses), Counter(statuses)


async def signed_in(server: LiveServer, username: str = "agency") -> tuple[httpx.AsyncClient, str]:
    """An admin's browser: signed in, with the CSRF token of its session."""
    client = httpx.AsyncClient(base_url=server.url, timeout=60)
    page = await client.get("/admin/login")
    token = re.search(r'name="login_token" value="([^"]+)"', page.text)
    assert token, page.text
    done = await client.post(
        "/admin/login",
        data={"username": username, "password": PASSWORD, "login_token": token.group(1)},
    )
    assert done.status_code == 303, done.text
    account = await client.get("/admin/account")
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', account.text)
    assert csrf, account.text
    return client, csrf.group(1)


# -- the enrolment morning ----------------------------------------------------------------------


async def enrolment_morning(server: LiveServer, world: dict[str, Any]) -> list[tuple[int, int]]:
    settings = world["settings"]
    limit = asyncio.Semaphore(CONCURRENCY)
    limits = httpx.Limits(max_connections=CONCURRENCY, max_keepalive_connections=CONCURRENCY)

    async with httpx.AsyncClient(base_url=server.url, timeout=60, limits=limits) as http:

        async def phone_of(nip: str, code: str) -> tuple[int, int]:
            phone = Phone(http)  # its key and signatures; the requests are sent here
            async with limit:
                enrolled = await http.post(
                    "/api/v1/devices",
                    json={"nip": nip, "code": code, "public_key": phone.jwk()},
                    headers={"user-agent": phone.user_agent},
                )
                if enrolled.status_code != 201:
                    return enrolled.status_code, 0
                phone.device_id = enrolled.json()["device_id"]
                # The first phones check in while the others are still enrolling.
                window = tokens.current_window(settings.qr_period)
                token = tokens.issue(settings.qr_keys, world["display_id"], window)
                checked = await http.post(
                    "/api/v1/checkins",
                    json=phone.checkin_body(token),
                    headers={"user-agent": phone.user_agent},
                )
                return enrolled.status_code, checked.status_code

        return await asyncio.gather(*(phone_of(n, c) for n, c in world["codes"].items()))


def test_the_enrolment_morning(server: LiveServer, database_url: str) -> None:
    """600 phones enrol 64 at a time while the first ones already check in."""
    phones = 600
    world = asyncio.run(seed(server, database_url, phones))
    started = time.monotonic()
    answers = asyncio.run(enrolment_morning(server, world))
    took = time.monotonic() - started
    assert Counter(answers) == {(201, 201): phones}, Counter(answers)
    active = asyncio.run(
        query(database_url, sa.select(devices.c.id).where(devices.c.revoked_at.is_(None)))
    )
    assert len(active) == phones
    assert len(asyncio.run(query(database_url, sa.select(checkins.c.id)))) == phones
    print(f"enrolment morning: {phones} phones in {took:.1f} s")


# -- pairing, review, imports, holidays ---------------------------------------------------------


def test_two_displays_pair_with_one_code(server: LiveServer, database_url: str) -> None:
    world = asyncio.run(seed(server, database_url, 1))
    settings = world["settings"]

    async def race() -> list[httpx.Response]:
        db = make_database(database_url)
        await db.connect()
        try:
            code = await issue_pairing_code(
                db, settings.secret_key, world["display_id"], actor="test"
            )
        finally:
            await db.disconnect()
        async with httpx.AsyncClient(base_url=server.url, timeout=60) as http:
            return await asyncio.gather(
                *(http.post("/display/pair", data={"code": code}) for _ in range(8))
            )

    answers = asyncio.run(race())
    statuses = [r.status_code for r in answers]
    no_5xx(statuses)
    assert statuses.count(303) == 1, statuses
    assert all(400 <= s < 500 for s in statuses if s != 303), statuses
    winner = next(r for r in answers if r.status_code == 303)
    assert CREDENTIAL_COOKIE in winner.cookies
    [row] = asyncio.run(query(database_url, sa.select(displays.c.pairing_code_hash)))
    assert row["pairing_code_hash"] is None


def test_one_pending_scan_decided_twice_at_once(server: LiveServer, database_url: str) -> None:
    world = asyncio.run(seed(server, database_url, 1))

    async def make_pending() -> int:
        db = make_database(database_url)
        await db.connect()
        try:
            employee_id = next(iter(world["people"].values()))
            office_id = await db.fetch_val(sa.select(displays.c.office_id))
            now = utcnow()
            await db.execute(
                devices.insert().values(
                    id="d_test", employee_id=employee_id, public_key="{}", created_at=now
                )
            )
            checkin_id: int = await db.fetch_val(
                checkins.insert()
                .values(
                    employee_id=employee_id,
                    device_id="d_test",
                    display_id=world["display_id"],
                    office_id=office_id,
                    window=1,
                    at=now,
                    local_date=now.date(),
                    kind="in",
                    status="pending_review",
                    client_ts=0,
                    nonce="n",
                )
                .returning(checkins.c.id)
            )
            return checkin_id
        finally:
            await db.disconnect()

    checkin_id = asyncio.run(make_pending())

    async def race() -> list[int]:
        admins = [await signed_in(server) for _ in range(2)]
        try:
            answers = await asyncio.gather(
                *(
                    client.post(
                        f"/admin/review/{checkin_id}",
                        data={"decision": decision, "reason": "x", "csrf_token": csrf},
                    )
                    for (client, csrf), decision in zip(
                        admins * 4, ["approved", "rejected"] * 4, strict=True
                    )
                )
            )
        finally:
            for client, _csrf in admins:
                await client.aclose()
        return [r.status_code for r in answers]

    statuses = asyncio.run(race())
    no_5xx(statuses)
    assert 303 in statuses
    reviews = asyncio.run(
        query(
            database_url, checkin_reviews.select().where(checkin_reviews.c.checkin_id == checkin_id)
        )
    )
    assert len(reviews) == 1


def csv_of(numbers: range) -> str:
    lines = ["nip,name,unit"] + [f"{demo_nip(i)},Pegawai {i},DISKOMINFO" for i in numbers]
    return "\n".join(lines) + "\n"


def test_concurrent_imports_of_overlapping_files(server: LiveServer, database_url: str) -> None:
    world = asyncio.run(seed(server, database_url, 2))
    files = [range(500 + 15 * k, 540 + 15 * k) for k in range(6)]  # each overlaps the next

    async def race() -> list[httpx.Response]:
        headers = {"authorization": f"Bearer {API_TOKEN}", "content-type": "text/csv"}
        async with httpx.AsyncClient(base_url=server.url, timeout=60, headers=headers) as http:
            return await asyncio.gather(
                *(
                    http.post(
                        f"/api/v1/admin/employees/import?agency_id={world['agency_id']}",
                        content=csv_of(numbers),
                    )
                    for numbers in files
                )
            )

    answers = asyncio.run(race())
    no_5xx([r.status_code for r in answers])
    imported = [numbers for numbers, r in zip(files, answers, strict=True) if r.status_code == 200]
    assert imported, [r.text for r in answers]
    for r in answers:
        if r.status_code != 200:
            assert r.status_code in (409, 422) and "already exists" in r.text, r.text
    # All or nothing per file: exactly the rows of the files that answered 200.
    expected = {demo_nip(i) for numbers in imported for i in numbers} | set(world["people"])
    rows = asyncio.run(query(database_url, sa.select(employees.c.nip)))
    nips = [r["nip"] for r in rows]
    assert len(nips) == len(set(nips))
    assert set(nips) == expected


def test_concurrent_holiday_edits(server: LiveServer, database_url: str) -> None:
    world = asyncio.run(seed(server, database_url, 1))
    day = date(date.today().year, 8, 1)

    async def race() -> list[int]:
        admins = [await signed_in(server) for _ in range(4)]
        try:
            posts = []
            for n in range(24):
                client, csrf = admins[n % len(admins)]
                form = {"action": "put", "day": day.isoformat(), "name": f"Hari {n}",
                        "kind": "local", "csrf_token": csrf}  # fmt: skip
                if n % 6 == 5:
                    form = {"action": "off", "day": day.isoformat(), "csrf_token": csrf}
                if n % 8 == 7:
                    form = {"action": "seed", "year": str(day.year), "csrf_token": csrf}
                posts.append(client.post("/admin/holidays", data=form))
            answers = await asyncio.gather(*posts)
        finally:
            for client, _csrf in admins:
                await client.aclose()
        return [r.status_code for r in answers]

    statuses = asyncio.run(race())
    no_5xx(statuses)
    rows = asyncio.run(
        query(
            database_url,
            holidays.select()
            .where(holidays.c.agency_id == world["agency_id"])
            .where(holidays.c.day == day),
        )
    )
    assert len(rows) == 1
    assert re.fullmatch(r"Hari \d+", rows[0]["name"])
    days = asyncio.run(query(database_url, sa.select(holidays.c.day)))
    assert len(days) == len({r["day"] for r in days})  # the seeds added each day once


# -- sign-in storms and two admins saving one employee ------------------------------------------


async def failed_sign_ins(server: LiveServer, username: str, n: int) -> list[int]:
    async with httpx.AsyncClient(base_url=server.url, timeout=60) as http:
        page = await http.get("/admin/login")
        token = re.search(r'name="login_token" value="([^"]+)"', page.text)
        assert token
        form = {"username": username, "password": "wrong password", "login_token": token.group(1)}
        answers = await asyncio.gather(*(http.post("/admin/login", data=form) for _ in range(n)))
        return [r.status_code for r in answers]


def test_sign_in_storms_are_counted_exactly(server: LiveServer, database_url: str) -> None:
    asyncio.run(seed(server, database_url, 1))
    below = LOGIN_FAILURES_PER_ACCOUNT - 1
    # Concurrent failures, fewer than the limit: every one is counted, none lost ...
    assert asyncio.run(failed_sign_ins(server, "agency", below)) == [401] * below
    # ... so exactly one more try is left, then the account is throttled.
    assert asyncio.run(failed_sign_ins(server, "agency", 1)) == [401]
    assert asyncio.run(failed_sign_ins(server, "agency", 1)) == [429]
    # A storm on another account: no 5xx, and exactly the limit's worth of passwords checked
    # (each attempt is counted before its password is), then throttled.
    storm = asyncio.run(failed_sign_ins(server, "admin", 12))
    no_5xx(storm)
    assert set(storm) <= {401, 429}
    assert storm.count(401) == LOGIN_FAILURES_PER_ACCOUNT
    assert asyncio.run(failed_sign_ins(server, "admin", 1)) == [429]


def test_two_admins_save_one_employee_in_a_loop(server: LiveServer, database_url: str) -> None:
    world = asyncio.run(seed(server, database_url, 2))
    employee_id = next(iter(world["people"].values()))
    names = {f"Nama {a} {n}" for a in range(2) for n in range(40)}

    async def admin(number: int, http: httpx.AsyncClient) -> list[int]:
        statuses = []
        for n in range(40):
            r = await http.patch(
                f"/api/v1/admin/employees/{employee_id}",
                json={"name": f"Nama {number} {n}", "active": n % 5 != 4},
            )
            statuses.append(r.status_code)
        return statuses

    async def race() -> list[int]:
        headers = {"authorization": f"Bearer {API_TOKEN}"}
        async with httpx.AsyncClient(base_url=server.url, timeout=60, headers=headers) as http:
            results = await asyncio.gather(admin(0, http), admin(1, http))
        return [s for r in results for s in r]

    statuses = asyncio.run(race())
    no_5xx(statuses)
    assert set(statuses) <= {200, 409, 412}, Counter(statuses)
    [row] = asyncio.run(
        query(database_url, employees.select().where(employees.c.id == employee_id))
    )
    assert row["name"] in names
    assert row["unit_id"] == world["unit_id"]


# -- upserts in one process: rosters, TPP rules, corrections ------------------------------------


async def upsert_races(database_url: str) -> dict[str, Any]:
    from backend import review, rosters, tpp
    from backend.db import corrections, enrolment_codes, roster_entries, tpp_rules

    db = make_database(database_url)
    await db.connect()
    try:
        info = await ensure_demo(db, b"k" * 32, 1)
        employee_id = await db.fetch_val(sa.select(employees.c.id))
        agency_id = await db.fetch_val(sa.select(units.c.agency_id))
        days = [date(2026, 3, d) for d in range(1, 11)]
        outcomes = await asyncio.gather(
            *(
                rosters.set_roster(
                    db, employee_id=employee_id, days=days, shift_id=None, actor=f"a{n}"
                )
                for n in range(8)
            ),
            *(
                tpp.set_rule(
                    db, agency_id=agency_id, code="TL1", basis_points=10 * n, actor=f"a{n}"
                )
                for n in range(8)
            ),
            return_exceptions=True,
        )
        now = utcnow()
        office_id = await db.fetch_val(sa.select(displays.c.office_id))
        await db.execute(
            devices.insert().values(
                id="d_c", employee_id=employee_id, public_key="{}", created_at=now
            )
        )
        scan = await db.fetch_val(
            checkins.insert()
            .values(
                employee_id=employee_id, device_id="d_c", display_id=info["display"]["id"],
                office_id=office_id, window=1, at=now, local_date=now.date(), kind="in",
                client_ts=0, nonce="n",
            )
            .returning(checkins.c.id)
        )  # fmt: skip
        fixes = await asyncio.gather(
            *(
                review.correct(
                    db,
                    employee_id=employee_id,
                    day=now.date(),
                    kind="in",
                    at=now,
                    reason="wrong day",
                    actor=f"a{n}",
                    replaces_checkin_id=scan,
                )
                for n in range(6)
            ),
            return_exceptions=True,
        )
        await asyncio.gather(
            *(
                issue_enrolment_code(db, b"k" * 32, employee_id, ttl=600, created_by=f"a{n}")
                for n in range(6)
            )
        )
        usable = await db.fetch_val(
            sa.select(sa.func.count())
            .select_from(enrolment_codes)
            .where(enrolment_codes.c.employee_id == employee_id)
            .where(enrolment_codes.c.used_at.is_(None))
        )
        return {
            "usable_codes": usable,
            "errors": [o for o in outcomes if isinstance(o, BaseException)],
            "entries": await db.fetch_all(sa.select(roster_entries.c.day)),
            "rules": await db.fetch_all(sa.select(tpp_rules.c.basis_points)),
            "fixes": [type(f).__name__ if isinstance(f, BaseException) else "ok" for f in fixes],
            "corrections": await db.fetch_val(sa.select(sa.func.count()).select_from(corrections)),
        }
    finally:
        await db.disconnect()


def test_racing_upserts_end_with_one_row(database_url: str) -> None:
    """Eight admins rostering the same ten days and saving the same TPP rule at once; six
    corrections replacing one scan; six enrolment codes for one employee: one row each, the
    losers a clear refusal, no error."""
    found = asyncio.run(upsert_races(database_url))
    assert found["errors"] == []
    assert sorted(r["day"] for r in found["entries"]) == [date(2026, 3, d) for d in range(1, 11)]
    assert len(found["rules"]) == 1 and found["rules"][0]["basis_points"] in range(0, 80, 10)
    assert sorted(found["fixes"]) == ["ApiError"] * 5 + ["ok"]
    assert found["corrections"] == 1
    assert found["usable_codes"] == 1  # six codes issued at once: only one still works
