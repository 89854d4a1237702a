"""Annual leave (cuti tahunan): hand-computed balances across years, cuti bersama, PPPK."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

import pytest
import sqlalchemy as sa
from starlette.testclient import TestClient

from backend import absences, holidays, leave
from backend.db import employees, units
from tests.conftest import app_db, run

PNS = leave.RULES["asn"]
PPPK = leave.RULES["pppk"]


@pytest.mark.parametrize(
    ("used", "year", "entitled"),
    [
        ({}, 2024, 12),  # the first year: 12
        ({2024: 3}, 2025, 18),  # 9 left, but at most 18 with this year's 12
        ({2024: 8}, 2025, 16),  # 4 left: 12 + 4
        ({2024: 12}, 2025, 12),  # nothing left
        ({}, 2025, 18),  # one year unused: still 18
        ({}, 2026, 24),  # two whole years unused: 24
        ({2025: 1}, 2026, 18),  # 2024 unused, 2025 not: 18 (12 + min(17, 6))
        ({2026: 20}, 2027, 16),  # 24 in 2026, 20 used: 4 left
    ],
)
def test_pns_carry_over_hand_computed(used: dict[int, int], year: int, entitled: int) -> None:
    balance = leave.entitlements(PNS, 2024, used, year)
    assert balance.entitled == entitled
    assert balance.remaining == max(0, entitled - used.get(year, 0))


def test_pppk_carries_nothing_over() -> None:
    assert leave.entitlements(PPPK, 2024, {}, 2026).entitled == 12
    assert leave.entitlements(PPPK, 2024, {2025: 2}, 2026).entitled == 12


@pytest.fixture
def person(client: TestClient, world: dict[str, Any]) -> dict[str, Any]:
    db = app_db(client)
    row = run(client, db.fetch_one, employees.select().order_by(employees.c.id))
    agency_id = run(client, db.fetch_val, sa.select(units.c.agency_id))
    run(
        client,
        db.execute,
        employees.update()
        .where(employees.c.id == row["id"])
        .values(created_at=datetime(2024, 3, 1, tzinfo=UTC)),
    )
    return {"id": row["id"], "agency_id": agency_id}


def _leave(client: TestClient, employee_id: int, start: date, end: date) -> None:
    run(
        client,
        absences.add,
        app_db(client),
        employee_id=employee_id,
        kind="cuti_tahunan",
        start=start,
        end=end,
        actor="test",
    )


def test_counted_in_working_days_and_cuti_bersama_takes_nothing(
    client: TestClient, person: dict[str, Any]
) -> None:
    db = app_db(client)
    # 2024: Mon 15 - Fri 19 April = 5 working days, minus cuti bersama on Tuesday 16 April.
    run(
        client,
        holidays.put,
        db,
        agency_id=person["agency_id"],
        day=date(2024, 4, 16),
        name="Cuti bersama Idulfitri",
        kind="cuti_bersama",
        actor="test",
    )
    _leave(client, person["id"], date(2024, 4, 15), date(2024, 4, 21))  # Sat and Sun too
    b2024 = run(client, leave.annual_balance, db, person["id"], 2024)
    assert (b2024.entitled, b2024.used, b2024.remaining) == (12, 4, 8)
    # 2025: 8 carried over, capped at 18 -> 12 + 6. A leave over New Year counts per year:
    # Mon 29 Dec 2025 - Fri 2 Jan 2026 (1 Jan a holiday): 3 days in 2025, 1 in 2026.
    run(
        client,
        holidays.put,
        db,
        agency_id=person["agency_id"],
        day=date(2026, 1, 1),
        name="Tahun Baru",
        kind="national",
        actor="test",
    )
    _leave(client, person["id"], date(2025, 12, 29), date(2026, 1, 2))
    b2025 = run(client, leave.annual_balance, db, person["id"], 2025)
    assert (b2025.entitled, b2025.used, b2025.remaining) == (18, 3, 15)
    # 2026: 15 left, capped at 18 again (2025 was not unused): 18, 1 used.
    b2026 = run(client, leave.annual_balance, db, person["id"], 2026)
    assert (b2026.entitled, b2026.used, b2026.remaining) == (18, 1, 17)


def test_two_unused_years_give_24(client: TestClient, person: dict[str, Any]) -> None:
    db = app_db(client)
    b = run(client, leave.annual_balance, db, person["id"], 2026)
    assert (b.entitled, b.used) == (24, 0)  # 2024 and 2025 without annual leave
    run(
        client,
        app_db(client).execute,
        employees.update().where(employees.c.id == person["id"]).values(kind="pppk"),
    )
    assert run(client, leave.annual_balance, db, person["id"], 2026).entitled == 12


def test_a_cancelled_leave_gives_the_days_back(client: TestClient, person: dict[str, Any]) -> None:
    db = app_db(client)
    _leave(client, person["id"], date(2026, 3, 2), date(2026, 3, 3))
    assert run(client, leave.annual_balance, db, person["id"], 2026).used == 2
    absence_id = run(
        client, db.fetch_val, sa.select(sa.text("max(id)")).select_from(sa.table("absences"))
    )
    run(client, absences.cancel, db, absence_id=absence_id, actor="test")
    assert run(client, leave.annual_balance, db, person["id"], 2026).used == 0
