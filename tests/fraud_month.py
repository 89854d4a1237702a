"""A generated month of scans with fraud patterns planted in it (backend/fraud.py).

Forty people at two offices of one agency, 22 km apart (WIB), each with a phone of their own
(its own mobile-data address, a user agent of its own), scan in between 06:45 and 07:45 and out
between 16:00 and 17:00 on every weekday of December 2026, from positions scattered inside
their office's geofence. Into that, one instance of each pattern is planted; ``PLANTED`` says
which scans each must cluster, and nothing else may be clustered.
"""

from __future__ import annotations

import random
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from databases import Database

from backend.db import agencies, checkins, devices, displays, employees, offices, units, utcnow

WIB = ZoneInfo("Asia/Jakarta")
START, END = date(2026, 12, 1), date(2026, 12, 31)
PEOPLE = 40
OFFICES = {1: (-6.20000, 106.81666), 2: (-6.40000, 106.81666)}  # 22 km apart
DISPLAY_OF = {1: 1, 2: 2}
SHARED_COORDINATE = (-6.201234, 106.817654)
UA_ANDROID = (
    "Mozilla/5.0 (Linux; Android {v}; SM-A{m}F) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/12{c}.0.0.0 Mobile Safari/537.36"
)
UA_IPHONE = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_{m} like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/17.{m} Mobile/15E148 Safari/604.1"
)


def weekdays() -> list[date]:
    days, d = [], START
    while d <= END:
        if d.weekday() < 5:
            days.append(d)
        d += timedelta(days=1)
    return days


def _at(day: date, hour: int, minute: int, second: int = 0) -> datetime:
    return datetime.combine(day, time(hour, minute, second), WIB).astimezone(ZoneInfo("UTC"))


def generate(seed: int = 15) -> tuple[list[dict[str, Any]], dict[str, set[int]]]:
    """The month's scans (ROW_COLUMNS of backend/fraud.py) and, by pattern, the ids of the
    planted scans each pattern must find."""
    rng = random.Random(seed)
    rows: list[dict[str, Any]] = []
    planted: dict[str, set[int]] = {
        p: set()
        for p in (
            "shared_client",
            "shared_coordinates",
            "impossible_travel",
            "console_token",
            "platform_changed",
        )
    }
    people = []
    for n in range(PEOPLE):
        office = 1 if n % 2 == 0 else 2
        ua = (
            UA_IPHONE.format(m=n % 7)
            if n % 5 == 4
            else UA_ANDROID.format(v=10 + n % 4, m=100 + n, c=n % 6)
        )
        people.append(
            {
                "employee_id": n + 1,
                "device_id": f"d_person{n + 1:04d}",
                "office": office,
                "ua": ua,
                "ip": f"114.{n + 1}.{rng.randrange(256)}.{rng.randrange(256)}",
            }
        )

    def add(person: dict[str, Any], at: datetime, day: date, **over: Any) -> int:
        office = over.pop("office", person["office"])
        lat, lon = OFFICES[office]
        row = {
            "id": len(rows) + 1,
            "employee_id": person["employee_id"],
            "device_id": person["device_id"],
            "display_id": DISPLAY_OF[office],
            "window": int(at.timestamp()) // 15,
            "office_id": office,
            "agency_id": 1,
            "at": at,
            "local_date": day,
            "client_ip": person["ip"],
            "user_agent": person["ua"],
            # Scattered within ~60 m of the office: no two fixes agree to 5 decimals by chance.
            "latitude": lat + rng.uniform(-0.0005, 0.0005),
            "longitude": lon + rng.uniform(-0.0005, 0.0005),
            "flags": "",
            **over,
        }
        rows.append(row)
        return int(row["id"])

    for day in weekdays():
        for p in people:
            add(p, _at(day, 6, 45, rng.randrange(60)) + timedelta(minutes=rng.randrange(60)), day)
            add(p, _at(day, 16, rng.randrange(60), rng.randrange(60)), day)

    # shared_client: on 9 December one phone-holder scans for three colleagues at 05:30, one
    # after the other, from one address and one browser (same platform as their own phones).
    holder_ua = UA_ANDROID.format(v=9, m=105, c=0)
    day = date(2026, 12, 9)
    for k, n in enumerate((0, 2, 6)):
        planted["shared_client"].add(
            add(
                people[n], _at(day, 5, 30, 10 * k), day, client_ip="36.80.1.1", user_agent=holder_ua
            )
        )
    # shared_coordinates: two employees report the very same fix on different days.
    for n, day in ((8, date(2026, 12, 3)), (10, date(2026, 12, 17))):
        planted["shared_coordinates"].add(
            add(
                people[n],
                _at(day, 12, 0),
                day,
                latitude=SHARED_COORDINATE[0],
                longitude=SHARED_COORDINATE[1],
            )
        )
    # impossible_travel: office 1 at 12:00, office 2 (22 km) ten minutes later.
    day = date(2026, 12, 14)
    planted["impossible_travel"] |= {
        add(people[12], _at(day, 12, 0), day),
        add(people[12], _at(day, 12, 10), day, office=2),
    }
    # console_token: a scan with a token printed by `presensi display token`.
    day = date(2026, 12, 21)
    planted["console_token"].add(add(people[14], _at(day, 12, 0), day, flags="console_token"))
    # platform_changed: from 15 December an Android phone's key answers from an iPhone.
    swapped = people[16]
    before = [
        r["id"]
        for r in rows
        if r["device_id"] == swapped["device_id"] and r["local_date"] < date(2026, 12, 15)
    ]
    for r in rows:
        if r["device_id"] == swapped["device_id"] and r["local_date"] >= date(2026, 12, 15):
            r["user_agent"] = UA_IPHONE.format(m=3)
    after = min(
        (r for r in rows if r["device_id"] == swapped["device_id"] and r["id"] not in before),
        key=lambda r: r["at"],
    )
    last = max((r for r in rows if r["id"] in before), key=lambda r: r["at"])
    planted["platform_changed"] |= {last["id"], after["id"]}
    return rows, planted


async def store(db: Database, rows: list[dict[str, Any]]) -> None:
    """Write the month's agency, offices, displays, people, phones and scans."""
    now = utcnow()
    await db.execute(agencies.insert().values(id=1, code="KAB", name="Kabupaten", created_at=now))
    await db.execute(
        units.insert().values(id=1, agency_id=1, code="U1", name="Unit", created_at=now)
    )
    for office_id, (lat, lon) in OFFICES.items():
        await db.execute(
            offices.insert().values(
                id=office_id,
                agency_id=1,
                name=f"Kantor {office_id}",
                timezone="Asia/Jakarta",
                latitude=lat,
                longitude=lon,
                radius_m=150,
                created_at=now,
            )
        )
        await db.execute(
            displays.insert().values(
                id=office_id, office_id=office_id, name="Layar", created_at=now
            )
        )
    people = {(r["employee_id"], r["device_id"], r["office_id"]) for r in rows}
    seen: set[int] = set()
    for employee_id, device_id, office_id in sorted(people):
        if employee_id in seen:
            continue
        seen.add(employee_id)
        await db.execute(
            employees.insert().values(
                id=employee_id,
                nip=f"19900101201501{employee_id:04d}",
                name=f"Pegawai {employee_id}",
                unit_id=1,
                office_id=office_id,
                created_at=now,
            )
        )
        await db.execute(
            devices.insert().values(
                id=device_id, employee_id=employee_id, public_key="{}", created_at=now
            )
        )
    columns = {c.name for c in checkins.c}
    values = [
        {k: v for k, v in r.items() if k in columns}
        | {"kind": "in", "client_ts": 1, "nonce": f"{r['id']:032x}", "status": "accepted"}
        for r in rows
    ]
    for start in range(0, len(values), 500):
        await db.execute_many(checkins.insert(), values[start : start + 500])
    if db.url.dialect.startswith("postgres"):
        for table in ("agencies", "units", "offices", "displays", "employees", "checkins"):
            await db.execute(
                f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), (SELECT max(id) FROM {table}))"
            )
