"""The apel fixture month: November 2026 in an office of two units, WIB, worked out by hand.

Weekday hours (Mon–Thu 07:30–16:00, Fri 07:30–16:30); 16 November is a holiday. Three apel
sessions, scheduled on 31 October, all for unit A only:

- S1 "Apel Senin": every Monday 07:15–07:45 (2, 9, [16 holiday], 23, 30 November);
- S2 "Hari Kesadaran Nasional": 17 November 07:00–07:45;
- S3 "Apel Rabu": every Wednesday 07:15–07:45, ended on 12 November (so 4 and 11 only).

Ani and Budi are in unit A, Citra in unit B. Everyone scans in at 07:20 and out at 16:35 on
every working day, except:

- Ani: cuti on 23 November; her check-ins on 2, 9 (S1), 17 (S2) and 4 (S3) are apel scans;
  on 30 and 11 she scanned the daily code. Due 6, attended 4, missed 2 → TPP 2 × 2.5 % = 5 %.
- Budi: no scan at all on 9 November (absent); apel scans on 2, 30 (S1) and 4 (S3); the daily
  code on 17 and 11; on 23 his apel scan was queued offline and is still waiting for review, so
  it does not count (no check-in: missing_in). Due 7 (Mon 2, 9, 23, 30; 17; Wed 4, 11),
  attended 3, missed 4 → TPP absent 3 % + 4 × 2.5 % + no check-in 1.5 % = 14.5 %.
- Citra: unit B is not called: nothing due, no deduction.
"""

from __future__ import annotations

import csv
import io
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa
from databases import Database
from openpyxl import load_workbook
from starlette.testclient import TestClient

from backend import absences, apel, holidays
from backend.accounts import create_admin
from backend.admin.security import hash_api_token
from backend.db import (
    admin_users,
    agencies,
    api_tokens,
    checkins,
    devices,
    displays,
    employees,
    offices,
    units,
    utcnow,
)
from backend.i18n import gettext
from backend.settings import Settings
from tests.conftest import app_db, run
from tests.support.admin import PASSWORD, sign_in
from tests.test_admin_recaps import html_table

WIB = ZoneInfo("Asia/Jakarta")
NOW = datetime(2026, 12, 2, 12, 0, tzinfo=WIB)
SCHEDULED_ON = datetime(2026, 10, 31, 9, 0, tzinfo=WIB)
ENDED_ON = datetime(2026, 11, 12, 9, 0, tzinfo=WIB)
HOLIDAY = date(2026, 11, 16)


def d(day: int) -> date:
    return date(2026, 11, day)


# name -> (unit, {day: how the check-in was made}); "S1"/"S2"/"S3": the session's apel scan,
# "none": no scan that day, "queued": an apel scan (S1) still waiting for review.
STAFF = {
    "Ani Lestari": ("A", {d(2): "S1", d(9): "S1", d(17): "S2", d(4): "S3"}),
    "Budi Santoso": (
        "A",
        {d(2): "S1", d(30): "S1", d(4): "S3", d(9): "none", d(23): "queued"},
    ),
    "Citra Dewi": ("B", {}),
}
NIPS = {
    "Ani Lestari": "198001012005012001",
    "Budi Santoso": "198102022006011002",
    "Citra Dewi": "198203032007012003",
}
ABSENT_ON = {("Ani Lestari", d(23))}  # cuti

EXPECTED_APEL = {  # due, attended, missed
    "Ani Lestari": (6, 4, 2),
    "Budi Santoso": (7, 3, 4),
    "Citra Dewi": (0, 0, 0),
}
EXPECTED_TPP = {"Ani Lestari": 500, "Budi Santoso": 1450, "Citra Dewi": 0}
# (day, code, refs): "S1" stands for "apel:<S1's id>", "scan" for the day's counted scan.
EXPECTED_DEDUCTIONS = {
    "Ani Lestari": [(d(11), "apel_absent", "S3"), (d(30), "apel_absent", "S1")],
    "Budi Santoso": [
        (d(9), "absent", ""),
        (d(9), "apel_absent", "S1"),
        (d(11), "apel_absent", "S3"),
        (d(17), "apel_absent", "S2"),
        (d(23), "missing_in", "scan"),
        (d(23), "apel_absent", "S1"),
    ],
    "Citra Dewi": [],
}


def work_days() -> list[date]:
    days = [d(1) + timedelta(days=i) for i in range(30)]
    return [day for day in days if day.weekday() < 5 and day != HOLIDAY]


async def load(db: Database) -> dict[str, Any]:
    now = utcnow()
    agency_id = await db.fetch_val(
        agencies.insert()
        .values(code="APL", name="Pemerintah Kota Apel", created_at=now)
        .returning(agencies.c.id)
    )
    unit_ids = {}
    for code in ("A", "B"):
        unit_ids[code] = await db.fetch_val(
            units.insert()
            .values(agency_id=agency_id, code=code, name=f"Bidang {code}", created_at=now)
            .returning(units.c.id)
        )
    office_id = await db.fetch_val(
        offices.insert()
        .values(
            agency_id=agency_id, name="Kantor Walikota", timezone="Asia/Jakarta", created_at=now
        )
        .returning(offices.c.id)
    )
    display_id = await db.fetch_val(
        displays.insert()
        .values(office_id=office_id, name="Layar Lobi", created_at=now)
        .returning(displays.c.id)
    )
    await holidays.put(db, agency_id=agency_id, day=HOLIDAY, name="Libur daerah", actor="fixture")
    sessions = {}
    for key, body in {
        "S1": {"name": "Apel Senin", "weekday": 0, "start": "07:15", "end": "07:45"},
        "S2": {"name": "Hari Kesadaran Nasional", "date": "2026-11-17", "start": "07:00",
               "end": "07:45"},
        "S3": {"name": "Apel Rabu", "weekday": 2, "start": "07:15", "end": "07:45"},
    }.items():  # fmt: skip
        new = apel.parse_new({"office_id": office_id, "unit_ids": [unit_ids["A"]], **body})
        sessions[key] = await apel.create(
            db, new, allowed_units=sa.true(), actor="fixture", now=SCHEDULED_ON.astimezone(UTC)
        )
    await apel.delete(db, sessions["S3"], actor="fixture", now=ENDED_ON.astimezone(UTC))
    people = {}
    for name, (unit, _) in STAFF.items():
        people[name] = await db.fetch_val(
            employees.insert()
            .values(nip=NIPS[name], name=name, unit_id=unit_ids[unit], created_at=now)
            .returning(employees.c.id)
        )
        await db.execute(
            devices.insert().values(
                id=f"d_apel{NIPS[name]}", employee_id=people[name], public_key="{}", created_at=now
            )
        )
    for name, day in ABSENT_ON:
        await absences.add(
            db, employee_id=people[name], kind="cuti_tahunan", start=day, end=day, actor="fixture"
        )
    rows = []
    window = 0
    for name, (_, special) in STAFF.items():
        for day in work_days():
            how = special.get(day, "daily")
            if (name, day) in ABSENT_ON or how == "none":
                continue
            for local, kind in ((time(7, 20), "in"), (time(16, 35), "out")):
                window += 1
                at = datetime.combine(day, local, WIB)
                session = None
                if kind == "in" and how in ("S1", "S2", "S3", "queued"):
                    session = sessions["S1" if how == "queued" else how]
                    at = datetime.combine(day, time(7, 25 if how != "S2" else 20), WIB)
                status = "pending_review" if kind == "in" and how == "queued" else "accepted"
                rows.append(
                    {
                        "employee_id": people[name], "device_id": f"d_apel{NIPS[name]}",
                        "display_id": display_id, "office_id": office_id, "window": window,
                        "at": at.astimezone(UTC), "local_date": day, "kind": kind,
                        "late_minutes": 0, "category": None, "status": status,
                        "client_ts": int(at.timestamp() * 1000), "nonce": f"{window:032x}",
                        "flags": "", "apel_session_id": session,
                    }
                )  # fmt: skip
    await db.execute_many(checkins.insert(), rows)
    return {"agency_id": agency_id, "units": unit_ids, "office_id": office_id,
            "sessions": sessions, "employees": people, "display_id": display_id}  # fmt: skip


@pytest.fixture
def month(client: TestClient) -> dict[str, Any]:
    info = run(client, load, app_db(client))
    run(
        client, create_admin, app_db(client), username="hr.apel", password=PASSWORD,
        role="agency_admin", agency_id=info["agency_id"], actor="test",
    )  # fmt: skip
    client.app.state.presensi.extras["clock"] = lambda: NOW  # type: ignore[attr-defined]
    assert sign_in(client, "hr.apel").status_code == 303
    return info


def by_name(table: list[list[Any]]) -> dict[str, dict[str, Any]]:
    """Rows of the monthly table (after its header rows) keyed by name, cells by heading."""
    heading = next(i for i, row in enumerate(table) if row and row[0] == "No.")
    columns = [str(c) for c in table[heading]]
    rows = {}
    for row in table[heading + 1 :]:
        if row and row[0] not in (None, ""):
            rows[str(row[columns.index("Nama")])] = dict(zip(columns, row, strict=False))
    return rows


def check(table: list[list[Any]], number: Any) -> None:
    rows = by_name(table)
    assert set(rows) == set(STAFF)
    due, attended, missed = (gettext("id", t) for t in ("Apel due", "Apel attended", "Apel missed"))
    deduction = gettext("id", "TPP deduction %")
    for name, (want_due, want_attended, want_missed) in EXPECTED_APEL.items():
        row = rows[name]
        assert (number(row[due]), number(row[attended]), number(row[missed])) == (
            want_due,
            want_attended,
            want_missed,
        ), name
        assert float(row[deduction]) == EXPECTED_TPP[name] / 100, name


def test_html_csv_and_xlsx_show_the_hand_computed_apel_counts(
    client: TestClient, month: dict[str, Any]
) -> None:
    page = client.get("/admin/recaps/monthly?month=2026-11")
    assert page.status_code == 200, page.text
    check(html_table(page.text), int)
    response = client.get("/admin/recaps/monthly.csv?month=2026-11")
    assert response.status_code == 200
    check(list(csv.reader(io.StringIO(response.text.lstrip("\ufeff")))), int)
    response = client.get("/admin/recaps/monthly.xlsx?month=2026-11")
    book = load_workbook(io.BytesIO(response.content), read_only=True)
    check([list(r) for r in book[book.sheetnames[0]].iter_rows(values_only=True)], int)
    # The TPP sheet names the session behind each missed apel.
    detail = [list(r) for r in book[book.sheetnames[1]].iter_rows(values_only=True)]
    apel_rows = [r for r in detail if len(r) > 6 and r[3] == "apel_absent"]
    assert len(apel_rows) == 2 + 4
    assert {r[6] for r in apel_rows} == {f"apel:{month['sessions'][k]}" for k in ("S1", "S2", "S3")}
    assert all(r[4] == "Tidak mengikuti apel (per sesi)" and r[5] == 2.5 for r in apel_rows)


def api_token(client: TestClient, settings: Settings, agency_id: int) -> dict[str, str]:
    db = app_db(client)
    raw = "pst_apelrecap_0123456789abcdef"
    creator = run(client, db.fetch_val, sa.select(admin_users.c.id).order_by(admin_users.c.id))
    run(
        client,
        db.execute,
        api_tokens.insert().values(
            name="rekap", token_hash=hash_api_token(settings.secret_key, raw), prefix=raw[:10],
            role="leader", agency_id=agency_id, created_by=creator, created_at=utcnow(),
        ),
    )  # fmt: skip
    return {"Authorization": f"Bearer {raw}"}


def test_the_api_recap_gives_the_counts_and_each_deduction_with_what_is_behind_it(
    client: TestClient, settings: Settings, month: dict[str, Any]
) -> None:
    headers = api_token(client, settings, month["agency_id"])
    response = client.get("/api/v1/admin/recaps/monthly?month=2026-11", headers=headers)
    assert response.status_code == 200, response.text
    items = {i["name"]: i for i in response.json()["employees"]}
    refs = {k: f"apel:{v}" for k, v in month["sessions"].items()}
    for name, (due, attended, missed) in EXPECTED_APEL.items():
        item = items[name]
        assert item["apel"] == {"due": due, "attended": attended, "missed": missed}, name
        assert item["tpp"]["deduction_bp"] == EXPECTED_TPP[name]
        found = [
            (date.fromisoformat(x["date"]), x["code"], x["refs"]) for x in item["tpp"]["items"]
        ]
        expected = []
        for day, code, ref in EXPECTED_DEDUCTIONS[name]:
            if ref == "scan":
                (scan,) = next(f[2] for f in found if f[0] == day and f[1] == code)
                assert scan.startswith("scan:")
                expected.append((day, code, [scan]))
            else:
                expected.append((day, code, [refs[ref]] if ref else []))
        assert found == expected, name
        points = {x["code"]: x["basis_points"] for x in item["tpp"]["items"]}
        assert points.get("apel_absent", 250) == 250


def test_the_attendance_page_and_exports_of_a_session(
    client: TestClient, month: dict[str, Any]
) -> None:
    s1 = month["sessions"]["S1"]
    page = client.get(f"/admin/apel/{s1}?date=2026-11-09")
    assert page.status_code == 200, page.text
    rows = {r[2]: r for r in html_table(page.text)[1:]}
    assert set(rows) == {"Ani Lestari", "Budi Santoso"}  # unit B is not called
    assert rows["Ani Lestari"][4] == "hadir" and rows["Ani Lestari"][5] == "07:25:00"
    assert rows["Budi Santoso"][4] == "tidak hadir"
    assert 'data-count="attended">1<' in page.text and 'data-count="missed">1<' in page.text
    excused = client.get(f"/admin/apel/{s1}?date=2026-11-23")
    rows = {r[2]: r[4] for r in html_table(excused.text)[1:]}
    assert rows == {"Ani Lestari": "berhalangan (tercatat tidak hadir dengan keterangan)",
                    "Budi Santoso": "tidak hadir"}  # fmt: skip
    exported = client.get(f"/admin/apel/{s1}/attendance.csv?date=2026-11-09")
    assert exported.status_code == 200
    lines = list(csv.reader(io.StringIO(exported.text.lstrip("\ufeff"))))
    assert ["1", "198001012005012001", "Ani Lestari", "Bidang A", "hadir", "07:25:00"] == lines[-2][
        :6
    ]
    book = client.get(f"/admin/apel/{s1}/attendance.xlsx?date=2026-11-09")
    sheet = load_workbook(io.BytesIO(book.content), read_only=True).active
    values = [list(r) for r in sheet.iter_rows(values_only=True)]  # type: ignore[union-attr]
    assert values[-1][2:5] == ["Budi Santoso", "Bidang A", "tidak hadir"]
    # The ended session is gone from the list, its past stays in the recap (tested above).
    listing = client.get("/admin/apel")
    assert "Apel Senin" in listing.text and "Apel Rabu" not in listing.text
